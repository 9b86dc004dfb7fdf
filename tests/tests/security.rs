//! Security signals end to end: `security.violation` lines captured from the real log pipeline
//! and parsed back, counters parsed back from the exposition with prometheus-parse, a real axum
//! server whose handler reports a violation, abuse windows in memory, in the real Redis on
//! 127.0.0.1:6379 shared by two "replicas", and in a redis-server this test starts and SIGKILLs.

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use observa::Context;
use observa::context::RequestSource;
use observa::security::{
    self, AbuseConfig, Code, Names, RedisConfig, Scope, Security, SecurityConfig, Store,
};
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

mod log_support;

fn setup() {
    log_support::capture("security-tests", "debug");
}

fn lines_where(n: usize, f: impl Fn(&Value) -> bool) -> Vec<Value> {
    log_support::wait_lines(f, |l| l.len() >= n)
}

fn by_correlation(event: &'static str, corr: &'static str) -> impl Fn(&Value) -> bool {
    move |v| v["event"] == event && v["correlation_id"] == corr
}

/// Family name -> [(labels, value)].
type Samples = HashMap<String, Vec<(HashMap<String, String>, f64)>>;

/// The exposition, parsed.
fn scrape() -> Samples {
    let text = observa::metrics::render();
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let parsed = prometheus_parse::Scrape::parse(lines).expect("exposition parses");
    let mut out: HashMap<String, Vec<_>> = HashMap::new();
    for s in parsed.samples {
        let v = match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => continue,
        };
        let labels: HashMap<String, String> = s
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        out.entry(s.metric).or_default().push((labels, v));
    }
    out
}

fn sample(m: &Samples, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    m.get(name)?.iter().find_map(|(l, v)| {
        (l.len() == labels.len()
            && labels
                .iter()
                .all(|(k, want)| l.get(*k).map(String::as_str) == Some(*want)))
        .then_some(*v)
    })
}

fn source(ip: &str) -> RequestSource {
    RequestSource {
        client_ip: Some(ip.to_owned()),
        ..RequestSource::default()
    }
}

const TOKEN_CANARY: &str = "eyJhbGciOiJIUzI1NiJ9.CANARYtokenZq81x.sig";
const JTI_CANARY: &str = "jti-CANARYjtiW7v2";

#[test]
fn every_code_writes_its_line_at_the_seed_level_with_context() {
    setup();
    let sec = Security::new(SecurityConfig::new().names(Names::with_prefix("sec_lines_"))).unwrap();
    let ctx = Context::new()
        .with_correlation_id("sec-lines-1")
        .with_tenant_id("acme")
        .with_user_id("u-lines")
        .with_source(source("203.0.113.7"));
    ctx.scope(|| {
        sec.violation(Code::AuthMissing)
            .method("GET")
            .route("/orders")
            .status(401)
            .emit();
        sec.violation(Code::AuthInvalidToken)
            .token_id(JTI_CANARY)
            .error_type("signature")
            .status(401)
            .emit();
        sec.violation(Code::AuthExpired)
            .token_id(JTI_CANARY)
            .status(401)
            .emit();
        sec.violation(Code::AuthRevoked)
            .token_id(JTI_CANARY)
            .status(401)
            .emit();
        sec.violation(Code::AuthInvalidSubject).status(401).emit();
        sec.violation(Code::PermissionDenied)
            .permission("orders.delete")
            .role("viewer")
            .method("DELETE")
            .route("/orders/{id}")
            .status(403)
            .emit();
        sec.violation(Code::CsrfFailed)
            .method("POST")
            .route("/settings")
            .status(403)
            .emit();
        sec.violation(Code::RateLimited)
            .scope("ip")
            .status(429)
            .emit();
        sec.violation(Code::CrossTenantAccess)
            .requested_tenant("globex")
            .route("/events/{tenant}")
            .status(403)
            .emit();
        // A user that is not the context's is bound for the line (one `user_id`, no duplicate).
        sec.violation(Code::AuthExpired)
            .user("u-other")
            .client_ip("198.51.100.9")
            .emit();
    });
    let lines = lines_where(10, by_correlation("security.violation", "sec-lines-1"));
    assert_eq!(lines.len(), 10, "{lines:#?}");
    let fp = observa::redact::fingerprint(JTI_CANARY).to_string();
    let want: &[(&str, &str, Option<&str>)] = &[
        ("auth_missing", "debug", Some("missing")),
        ("auth_invalid_token", "debug", Some("invalid_token")),
        ("auth_expired", "debug", Some("expired")),
        ("auth_revoked", "info", Some("revoked")),
        ("auth_invalid_subject", "debug", Some("invalid_subject")),
        ("permission_denied", "warn", None),
        ("csrf_failed", "warn", None),
        ("rate_limited", "warn", None),
        ("cross_tenant_access", "warn", None),
        ("auth_expired", "debug", Some("expired")),
    ];
    for (l, (code, level, reason)) in lines.iter().zip(want) {
        assert_eq!(l["violation"], *code, "{l}");
        assert_eq!(l["level"], *level, "{l}");
        assert_eq!(l["target"], "observa::security", "{l}");
        assert_eq!(l["reason"].as_str(), *reason, "{l}");
        assert_eq!(l["tenant_id"], "acme", "{l}");
    }
    for l in &lines[..9] {
        assert_eq!(l["user_id"], "u-lines", "{l}");
        assert_eq!(l["client_ip"], "203.0.113.7", "{l}");
    }
    assert_eq!(lines[0]["method"], "GET");
    assert_eq!(lines[0]["route"], "/orders");
    assert_eq!(lines[0]["status"], 401);
    assert!(
        lines[0].get("token_fp").is_none(),
        "absent fields are left out"
    );
    for l in &lines[1..4] {
        assert_eq!(l["token_fp"], fp.as_str(), "{l}");
    }
    assert_eq!(lines[1]["error_type"], "signature");
    assert_eq!(lines[5]["permission"], "orders.delete");
    assert_eq!(lines[5]["role"], "viewer");
    assert_eq!(lines[7]["scope"], "ip");
    assert_eq!(lines[7]["status"], 429);
    assert_eq!(lines[8]["requested_tenant_id"], "globex");
    assert_eq!(lines[8]["effective_tenant_id"], "acme");
    assert_eq!(lines[9]["user_id"], "u-other");
    assert_eq!(lines[9]["client_ip"], "198.51.100.9");
    let raw = log_support::raw();
    let line9 = raw
        .lines()
        .find(|l| l.contains("sec-lines-1") && l.contains("u-other"))
        .unwrap();
    assert_eq!(line9.matches("\"user_id\"").count(), 1, "{line9}");
    assert!(!raw.contains("CANARYjti"), "a token id reached the logs");
}

#[test]
fn counters_in_the_seeds_shape_are_parsed_back() {
    setup();
    let sec =
        Security::new(SecurityConfig::new().names(Names::with_prefix("sec_counts_"))).unwrap();
    Context::new()
        .with_correlation_id("sec-counts-1")
        .scope(|| {
            for _ in 0..3 {
                sec.violation(Code::AuthInvalidToken).emit();
            }
            sec.violation(Code::AuthExpired).emit();
            sec.violation(Code::AuthMissing).emit();
            sec.violation(Code::PermissionDenied)
                .permission("orders.delete")
                .role("viewer")
                .emit();
            sec.violation(Code::PermissionDenied).emit();
            sec.violation(Code::CsrfFailed).emit();
            sec.violation(Code::CsrfFailed).emit();
            sec.violation(Code::RateLimited).scope("session").emit();
            sec.violation(Code::RateLimited).scope("ip").emit();
            sec.violation(Code::RateLimited).scope("ip").emit();
            sec.violation(Code::CrossTenantAccess)
                .requested_tenant("t2")
                .emit();
        });
    let m = scrape();
    let p = "sec_counts_";
    let auth = format!("{p}api_auth_failures_total");
    assert_eq!(sample(&m, &auth, &[("reason", "invalid_token")]), Some(3.0));
    assert_eq!(sample(&m, &auth, &[("reason", "expired")]), Some(1.0));
    assert_eq!(sample(&m, &auth, &[("reason", "missing")]), Some(1.0));
    let denied = format!("{p}api_permission_denied_total");
    assert_eq!(
        sample(
            &m,
            &denied,
            &[("permission", "orders.delete"), ("role", "viewer")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &m,
            &denied,
            &[("permission", "unknown"), ("role", "unknown")]
        ),
        Some(1.0)
    );
    assert_eq!(sample(&m, &format!("{p}csrf_blocks_total"), &[]), Some(2.0));
    let rl = format!("{p}ratelimit_blocks_total");
    assert_eq!(sample(&m, &rl, &[("scope", "ip")]), Some(2.0));
    assert_eq!(sample(&m, &rl, &[("scope", "session")]), Some(1.0));
    let v = format!("{p}security_violations_total");
    assert_eq!(
        sample(&m, &v, &[("code", "cross_tenant_access")]),
        Some(1.0)
    );
    assert_eq!(sample(&m, &v, &[("code", "auth_invalid_token")]), Some(3.0));
}

#[test]
fn custom_counter_names_are_used_and_the_defaults_are_not() {
    setup();
    let names = Names {
        auth_failures: "gate_login_rejections_total".into(),
        permission_denied: "gate_rbac_refusals_total".into(),
        csrf_blocks: "gate_forgery_stops_total".into(),
        ratelimit_blocks: "gate_throttle_stops_total".into(),
        violations: "gate_incidents_total".into(),
        abuse_signals: "gate_abusers_total".into(),
        store_fallbacks: "gate_store_degraded_total".into(),
    };
    let sec = Security::new(
        SecurityConfig::new()
            .names(names)
            .abuse(AbuseConfig::default().host_threshold(2)),
    )
    .unwrap();
    Context::new()
        .with_correlation_id("sec-custom-1")
        .scope(|| {
            sec.violation(Code::AuthExpired)
                .client_ip("192.0.2.55")
                .emit();
            sec.violation(Code::PermissionDenied)
                .client_ip("192.0.2.55")
                .emit();
            sec.violation(Code::CsrfFailed).emit();
            sec.violation(Code::RateLimited).scope("ip").emit();
        });
    let m = scrape();
    assert_eq!(
        sample(&m, "gate_login_rejections_total", &[("reason", "expired")]),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &m,
            "gate_rbac_refusals_total",
            &[("permission", "unknown"), ("role", "unknown")]
        ),
        Some(1.0)
    );
    assert_eq!(sample(&m, "gate_forgery_stops_total", &[]), Some(1.0));
    assert_eq!(
        sample(&m, "gate_throttle_stops_total", &[("scope", "ip")]),
        Some(1.0)
    );
    assert_eq!(
        sample(&m, "gate_incidents_total", &[("code", "csrf_failed")]),
        Some(1.0)
    );
    assert_eq!(
        sample(&m, "gate_abusers_total", &[("scope", "host")]),
        Some(1.0)
    );
    assert!(m.contains_key("gate_store_degraded_total"));
    // A name taken with other labels is an error value, not a panic.
    let clash = Names {
        csrf_blocks: "gate_throttle_stops_total".into(),
        ..Names::with_prefix("sec_clash_")
    };
    assert!(Security::new(SecurityConfig::new().names(clash)).is_err());
}

#[test]
fn the_process_wide_instance_uses_the_seed_names() {
    setup();
    Context::new()
        .with_correlation_id("sec-global-1")
        .scope(|| {
            security::violation(Code::AuthExpired).emit();
            security::violation(Code::RateLimited).scope("ip").emit();
        });
    let m = scrape();
    assert_eq!(
        sample(&m, "api_auth_failures_total", &[("reason", "expired")]),
        Some(1.0)
    );
    assert_eq!(
        sample(&m, "ratelimit_blocks_total", &[("scope", "ip")]),
        Some(1.0)
    );
    let lines = lines_where(2, by_correlation("security.violation", "sec-global-1"));
    assert_eq!(lines.len(), 2);
}

#[test]
fn abuse_escalates_once_per_window_per_host_and_user() {
    setup();
    let sec = Security::new(
        SecurityConfig::new()
            .names(Names::with_prefix("sec_abuse_"))
            .abuse(AbuseConfig::default().host_threshold(4).user_threshold(3)),
    )
    .unwrap();
    let ctx = Context::new()
        .with_correlation_id("sec-abuse-1")
        .with_user_id("u-abuse")
        .with_source(source("203.0.113.99"));
    let reports: Vec<_> = ctx.scope(|| {
        (0..12)
            .map(|_| sec.violation(Code::AuthInvalidToken).emit())
            .collect()
    });
    let escalated_at = |scope: Scope| {
        reports
            .iter()
            .enumerate()
            .filter(|(_, r)| match scope {
                Scope::Host => r.host.is_some_and(|h| h.escalated),
                Scope::User => r.user.is_some_and(|h| h.escalated),
            })
            .map(|(i, _)| i)
            .collect::<Vec<_>>()
    };
    assert_eq!(escalated_at(Scope::Host), [3], "host: the 4th hit, once");
    assert_eq!(escalated_at(Scope::User), [2], "user: the 3rd hit, once");
    assert!(
        reports
            .iter()
            .all(|r| r.host.unwrap().store == Store::Memory)
    );
    let host = lines_where(1, by_correlation("abuse_signal_host", "sec-abuse-1"));
    let user = lines_where(1, by_correlation("abuse_signal_user", "sec-abuse-1"));
    // Let any straggler lines arrive, then count again.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        log_support::json_lines()
            .iter()
            .filter(|v| v["correlation_id"] == "sec-abuse-1"
                && v["event"]
                    .as_str()
                    .is_some_and(|e| e.starts_with("abuse_signal")))
            .count(),
        2
    );
    let h = &host[0];
    assert_eq!(h["level"], "warn");
    assert_eq!(h["client_ip"], "203.0.113.99");
    assert_eq!(h["count"], 4);
    assert_eq!(h["threshold"], 4);
    assert_eq!(h["window_s"], 3600);
    assert_eq!(h["store"], "memory");
    assert_eq!(h["violation"], "auth_invalid_token");
    assert_eq!(user[0]["user_id"], "u-abuse");
    assert_eq!(user[0]["threshold"], 3);
    let m = scrape();
    assert_eq!(
        sample(
            &m,
            "sec_abuse_security_abuse_signals_total",
            &[("scope", "host")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &m,
            "sec_abuse_security_abuse_signals_total",
            &[("scope", "user")]
        ),
        Some(1.0)
    );
}

#[test]
fn a_window_rearms_once_it_has_passed() {
    setup();
    // Threshold 1: every hit in a fresh window escalates, none inside a window does.
    let sec = Security::new(
        SecurityConfig::new()
            .names(Names::with_prefix("sec_rearm_"))
            .abuse(
                AbuseConfig::default()
                    .host_threshold(1)
                    .user_threshold(0)
                    .window(Duration::from_millis(50)),
            ),
    )
    .unwrap();
    let hit = || {
        sec.violation(Code::CsrfFailed)
            .client_ip("192.0.2.200")
            .emit()
            .host
            .unwrap()
    };
    let first = hit();
    assert!(first.escalated);
    std::thread::sleep(Duration::from_millis(120));
    let second = hit();
    assert!(second.escalated, "a new window escalates again");
    assert_eq!(second.count, 1, "the old hit left the window");
    // Users were switched off.
    assert!(
        sec.violation(Code::CsrfFailed)
            .user("u")
            .emit()
            .user
            .is_none()
    );
}

async fn forbidden(sec: &'static Security) -> StatusCode {
    observa::context::bind(Some("acme"), Some("u-http"));
    sec.violation(Code::PermissionDenied)
        .permission("admin.read")
        .role("viewer")
        .method("GET")
        .route("/admin")
        .status(403)
        .token_id(TOKEN_CANARY)
        .emit();
    StatusCode::FORBIDDEN
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_behind_the_http_layer_reports_the_client_ip_and_never_the_credentials() {
    setup();
    static SEC: OnceLock<Security> = OnceLock::new();
    let sec = SEC.get_or_init(|| {
        Security::new(SecurityConfig::new().names(Names::with_prefix("sec_http_"))).unwrap()
    });
    let app = Router::new()
        .route("/admin", get(move || forbidden(sec)))
        .layer(observa::http::layer());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(l, app.into_make_service_with_connect_info::<SocketAddr>())
            .await
            .unwrap();
    });
    let resp = reqwest::Client::new()
        .get(format!("http://{addr}/admin?token={TOKEN_CANARY}"))
        .header("x-request-id", "sec-http-0001")
        .header("authorization", format!("Bearer {TOKEN_CANARY}"))
        .header("cookie", "session=CANARYcookieP0x9")
        .header("x-csrf-token", "CANARYcsrfQ1w2")
        .body("password=CANARYbodyR3t4")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let lines = lines_where(1, by_correlation("security.violation", "sec-http-0001"));
    assert_eq!(lines.len(), 1);
    let l = &lines[0];
    assert_eq!(l["violation"], "permission_denied");
    assert_eq!(l["level"], "warn");
    assert_eq!(l["client_ip"], "127.0.0.1");
    assert_eq!(l["tenant_id"], "acme");
    assert_eq!(l["user_id"], "u-http");
    assert_eq!(l["status"], 403);
    assert_eq!(
        l["token_fp"],
        observa::redact::fingerprint(TOKEN_CANARY)
            .to_string()
            .as_str()
    );
    // No credential, cookie, header value or body anywhere: logs or metrics.
    let raw = log_support::raw();
    let metrics = observa::metrics::render();
    for canary in [
        "CANARYtoken",
        "CANARYcookie",
        "CANARYcsrf",
        "CANARYbody",
        "eyJhbGciOiJIUzI1NiJ9",
    ] {
        assert!(!raw.contains(canary), "{canary} reached the logs");
        assert!(!metrics.contains(canary), "{canary} reached the metrics");
    }
}

// ---------------------------------------------------------------- Redis

fn unique(tag: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("observa-test:{tag}:{}:{n}:", std::process::id())
}

fn redis_hosts(sec: &Security, ip: &str, n: usize) -> Vec<observa::security::Hit> {
    (0..n)
        .map(|_| {
            sec.violation(Code::AuthInvalidToken)
                .client_ip(ip)
                .emit()
                .host
                .expect("host hit")
        })
        .collect()
}

#[test]
fn two_replicas_share_a_window_in_redis() {
    setup();
    let prefix = unique("replicas");
    let replica =
        || {
            Security::new(
                SecurityConfig::new()
                    .names(Names::with_prefix("sec_replicas_"))
                    .abuse(AbuseConfig::default().user_threshold(0).redis(
                        RedisConfig::new("redis://127.0.0.1:6379").key_prefix(prefix.clone()),
                    )),
            )
            .unwrap()
        };
    let (a, b) = (replica(), replica());
    let hits = Context::new()
        .with_correlation_id("sec-replicas-1")
        .scope(|| {
            let mut h = redis_hosts(&a, "198.51.100.20", 5);
            h.extend(redis_hosts(&b, "198.51.100.20", 5));
            h.extend(redis_hosts(&a, "198.51.100.20", 5));
            h
        });
    assert!(hits.iter().all(|h| h.store == Store::Redis), "{hits:?}");
    let counts: Vec<u32> = hits.iter().map(|h| h.count).collect();
    assert_eq!(
        &counts[..10],
        &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
        "one window, two replicas"
    );
    let escalated: Vec<usize> = (0..hits.len()).filter(|i| hits[*i].escalated).collect();
    assert_eq!(
        escalated,
        [9],
        "exactly one replica escalates, once per window"
    );
    let lines = lines_where(1, by_correlation("abuse_signal_host", "sec-replicas-1"));
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["store"], "redis");
    assert_eq!(lines[0]["count"], 10);
    // The window is in Redis under the prefix, bounded to `threshold` entries, with an expiry.
    let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    let mut con = client.get_connection().unwrap();
    let key = format!("{prefix}host:198.51.100.20");
    let card: u64 = redis::cmd("ZCARD").arg(&key).query(&mut con).unwrap();
    assert_eq!(card, 10);
    let ttl: i64 = redis::cmd("PTTL").arg(&key).query(&mut con).unwrap();
    assert!(ttl > 0 && ttl <= 3_600_000, "{ttl}");
    let _: () = redis::cmd("DEL")
        .arg(&key)
        .arg(format!("{key}:signaled"))
        .query(&mut con)
        .unwrap();

    // Control: the same traffic on two memory-only replicas never reaches the threshold.
    let memory = || {
        Security::new(
            SecurityConfig::new()
                .names(Names::with_prefix("sec_replicas_"))
                .abuse(AbuseConfig::default().user_threshold(0)),
        )
        .unwrap()
    };
    let (c, d) = (memory(), memory());
    let mut h = redis_hosts(&c, "198.51.100.21", 5);
    h.extend(redis_hosts(&d, "198.51.100.21", 5));
    assert!(h.iter().all(|h| !h.escalated && h.store == Store::Memory));
}

struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    fn start(port: u16) -> RedisServer {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server on PATH");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut con) = redis::Client::open(format!("redis://127.0.0.1:{port}"))
                .unwrap()
                .get_connection()
                && redis::cmd("PING").query::<String>(&mut con).is_ok()
            {
                break;
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        RedisServer { child, port }
    }

    fn kill(&mut self) {
        // std's kill is SIGKILL on Unix.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn a_killed_redis_falls_back_to_memory_once_and_recovers() {
    setup();
    let mut server = RedisServer::start(free_port());
    let url = format!("redis://127.0.0.1:{}", server.port);
    let sec = Security::new(
        SecurityConfig::new()
            .names(Names::with_prefix("sec_fallback_"))
            .abuse(
                AbuseConfig::default()
                    .host_threshold(0)
                    .user_threshold(3)
                    .redis(
                        RedisConfig::new(url.as_str())
                            .key_prefix(unique("fallback"))
                            .retry_after(Duration::ZERO),
                    ),
            ),
    )
    .unwrap();
    let ctx = Context::new()
        .with_correlation_id("sec-fallback-1")
        .with_user_id("u-fallback");
    let hit = || {
        ctx.clone()
            .scope(|| sec.violation(Code::AuthExpired).emit().user.unwrap())
    };
    assert_eq!(hit().store, Store::Redis);
    server.kill();
    // Down: every hit is counted in memory, nothing fails, the threshold still works.
    let down: Vec<_> = (0..5).map(|_| hit()).collect();
    assert!(down.iter().all(|h| h.store == Store::Memory), "{down:?}");
    assert_eq!(down.iter().filter(|h| h.escalated).count(), 1, "{down:?}");
    let unavailable = lines_where(
        1,
        by_correlation("security.abuse_store_unavailable", "sec-fallback-1"),
    );
    assert_eq!(unavailable[0]["level"], "warn");
    assert_eq!(unavailable[0]["fallback"], "memory");
    assert!(
        unavailable[0]["error"]
            .as_str()
            .is_some_and(|e| !e.is_empty())
    );
    assert!(
        !unavailable[0]["error"]
            .as_str()
            .unwrap()
            .contains("redis://")
    );
    let m = scrape();
    assert_eq!(
        sample(&m, "sec_fallback_security_abuse_store_fallbacks_total", &[]),
        Some(1.0)
    );

    // Back on the same port: the next hit reconnects and goes to Redis again.
    let _server = RedisServer::start(server.port);
    let back = hit();
    assert_eq!(back.store, Store::Redis);
    assert_eq!(back.count, 1, "a fresh server holds only the new hit");
    let recovered = lines_where(
        1,
        by_correlation("security.abuse_store_recovered", "sec-fallback-1"),
    );
    assert_eq!(recovered[0]["level"], "info");
    std::thread::sleep(Duration::from_millis(100));
    let said: usize = log_support::json_lines()
        .iter()
        .filter(|v| {
            v["correlation_id"] == "sec-fallback-1"
                && v["event"] == "security.abuse_store_unavailable"
        })
        .count();
    assert_eq!(said, 1, "the outage is announced once");
    let m = scrape();
    assert_eq!(
        sample(&m, "sec_fallback_security_abuse_store_fallbacks_total", &[]),
        Some(1.0)
    );
}

#[test]
fn an_unreachable_redis_from_the_start_is_announced_once() {
    setup();
    let port = free_port();
    let sec = Security::new(
        SecurityConfig::new()
            .names(Names::with_prefix("sec_never_"))
            .abuse(AbuseConfig::default().redis(
                RedisConfig::new(format!("redis://127.0.0.1:{port}")).retry_after(Duration::ZERO),
            )),
    )
    .unwrap();
    Context::new().with_correlation_id("sec-never-1").scope(|| {
        for _ in 0..4 {
            let r = sec
                .violation(Code::CsrfFailed)
                .client_ip("192.0.2.1")
                .emit();
            assert_eq!(r.host.unwrap().store, Store::Memory);
        }
    });
    lines_where(
        1,
        by_correlation("security.abuse_store_unavailable", "sec-never-1"),
    );
    std::thread::sleep(Duration::from_millis(100));
    let n = log_support::json_lines()
        .iter()
        .filter(|v| {
            v["correlation_id"] == "sec-never-1" && v["event"] == "security.abuse_store_unavailable"
        })
        .count();
    assert_eq!(n, 1);
    // A URL that does not parse is an error value.
    let bad = Security::new(
        SecurityConfig::new()
            .names(Names::with_prefix("sec_never_"))
            .abuse(AbuseConfig::default().redis(RedisConfig::new("not a url"))),
    );
    assert!(bad.is_err());
}
