//! Issue 8, items 5 and 6, end to end through the real pipeline (`observa::init`, lines parsed
//! back as JSON) and a real SQLite audit trail: a secret renamed in `fields(...)`, returned by
//! `ret`, or named in an `#[audit]` expression is masked; maps recorded in `fields(...)` or in
//! audit `changes` mask the values under sensitive keys.

use observa::{audit, observed};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::OnceLock;

mod log_support;
use log_support::wait_lines;

fn setup() {
    log_support::capture("redact-expr-tests", "info");
}

fn line(event: &str) -> Value {
    let l = wait_lines(|v| v["event"] == event, |l| !l.is_empty());
    assert!(!l.is_empty(), "no {event} line in:\n{}", log_support::raw());
    l[0].clone()
}

fn assert_absent(canary: &str) {
    let raw = log_support::raw();
    assert!(!raw.contains(canary), "{canary} leaked:\n{raw}");
}

// ---------------------------------------------------------------------------------------------
// Item 6: `fields(...)` judged on every identifier of the expression.

#[observed(event = "x.renamed", fields(login = password, p = password.as_str(), n = password.len(), shown = user))]
fn renamed(user: &str, password: String) -> usize {
    user.len() + password.len()
}

#[test]
fn a_renamed_secret_is_masked() {
    setup();
    assert_eq!(renamed("jane", "pw-renamed-canary".into()), 21);
    let l = line("x.renamed.completed");
    assert_eq!(l["login"], observa::REDACTED);
    assert_eq!(l["p"], observa::REDACTED);
    assert_eq!(l["n"], observa::REDACTED);
    assert_eq!(l["shown"], "jane");
    assert_absent("pw-renamed-canary");
}

struct Creds {
    api_key: String,
    region: String,
}

#[observed(event = "x.nested", fields(k = creds.api_key.as_str(), f = format!("key={}", creds.api_key), i = format!("{}", format_args!("{}", creds.region)), region = creds.region.as_str()))]
fn nested(creds: &Creds) -> usize {
    creds.api_key.len()
}

#[test]
fn a_secret_field_or_macro_argument_is_masked() {
    setup();
    let c = Creds {
        api_key: "ak-nested-canary".into(),
        region: "eu-west-1".into(),
    };
    assert_eq!(nested(&c), 16);
    let l = line("x.nested.completed");
    assert_eq!(l["k"], observa::REDACTED);
    assert_eq!(l["f"], observa::REDACTED);
    assert_eq!(l["i"], "eu-west-1");
    assert_eq!(l["region"], "eu-west-1");
    assert_absent("ak-nested-canary");
}

#[observed(event = "x.inline", fields(s = format!("{token}!")))]
fn inline_format(token: &str) -> usize {
    token.len()
}

#[test]
fn an_inline_format_argument_is_judged() {
    setup();
    inline_format("tok-inline-canary");
    assert_eq!(line("x.inline.completed")["s"], observa::REDACTED);
    assert_absent("tok-inline-canary");
}

// ---------------------------------------------------------------------------------------------
// Item 6: `ret` of a sensitive value.

#[observed(event = "x.ret_name", ret)]
fn api_token() -> String {
    "ret-name-canary".to_owned()
}

#[observed(event = "x.ret_get", ret)]
fn get_password(user: &str) -> Result<String, std::io::Error> {
    Ok(format!("{user}-ret-get-canary"))
}

#[observed(event = "x.ret_binding", ret)]
fn issue(user: &str) -> String {
    let refresh_token = format!("{user}-ret-binding-canary");
    refresh_token
}

#[observed(event = "x.ret_early", ret)]
fn early(user: &str, fail: bool) -> String {
    let secret = format!("{user}-ret-early-canary");
    if !fail {
        return secret;
    }
    String::new()
}

#[observed(event = "x.ret_plain", ret)]
fn count(user: &str) -> usize {
    user.len()
}

#[test]
fn ret_of_a_sensitive_value_is_masked() {
    setup();
    assert_eq!(api_token(), "ret-name-canary");
    assert_eq!(get_password("u").unwrap(), "u-ret-get-canary");
    assert_eq!(issue("u"), "u-ret-binding-canary");
    assert_eq!(early("u", false), "u-ret-early-canary");
    assert_eq!(count("jane"), 4);
    for e in ["x.ret_name", "x.ret_get", "x.ret_binding", "x.ret_early"] {
        let l = line(&format!("{e}.completed"));
        assert_eq!(l["return"], observa::REDACTED, "{e}: {l}");
    }
    assert_eq!(line("x.ret_plain.completed")["return"], 4);
    for c in [
        "ret-name-canary",
        "ret-get-canary",
        "ret-binding-canary",
        "ret-early-canary",
    ] {
        assert_absent(c);
    }
}

// ---------------------------------------------------------------------------------------------
// Item 5: maps in `fields(...)`.

#[observed(event = "x.maps", fields(params, headers, nested))]
fn with_maps(
    params: &HashMap<String, String>,
    headers: BTreeMap<&'static str, String>,
    nested: BTreeMap<String, BTreeMap<String, String>>,
) -> usize {
    params.len() + headers.len() + nested.len()
}

#[test]
fn map_values_under_sensitive_keys_are_masked() {
    setup();
    let params = HashMap::from([
        ("password".to_owned(), "map-pw-canary".to_owned()),
        ("user".to_owned(), "jane".to_owned()),
    ]);
    let headers = BTreeMap::from([
        ("Authorization", "Bearer map-auth-canary".to_owned()),
        ("accept", "text/html".to_owned()),
    ]);
    let nested = BTreeMap::from([(
        "upstream".to_owned(),
        BTreeMap::from([
            ("X-Api-Key".to_owned(), "map-nested-canary".to_owned()),
            ("host".to_owned(), "example.com".to_owned()),
        ]),
    )]);
    assert_eq!(with_maps(&params, headers, nested), 5);
    let l = line("x.maps.completed");
    assert_eq!(l["params"]["password"], observa::REDACTED);
    assert_eq!(l["params"]["user"], "jane");
    assert_eq!(l["headers"]["Authorization"], observa::REDACTED);
    assert_eq!(l["headers"]["accept"], "text/html");
    assert_eq!(l["nested"]["upstream"]["X-Api-Key"], observa::REDACTED);
    assert_eq!(l["nested"]["upstream"]["host"], "example.com");
    assert_absent("map-pw-canary");
    assert_absent("map-auth-canary");
    assert_absent("map-nested-canary");
}

// ---------------------------------------------------------------------------------------------
// `#[audit]`: target expressions and map changes, read back from the SQLite file.

static DB: OnceLock<std::path::PathBuf> = OnceLock::new();

fn audit_db() -> &'static std::path::Path {
    DB.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("observa-redact-expr-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("trail.db");
        observa::audit::install(observa::audit::AuditConfig::new(format!(
            "sqlite:{}",
            path.display()
        )))
        .expect("open audit store");
        path
    })
}

#[derive(Debug)]
struct AppError;

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("app error")
    }
}

impl From<observa::audit::AuditError> for AppError {
    fn from(_: observa::audit::AuditError) -> Self {
        AppError
    }
}

#[audit(action = "key.revoke", actor = "ops", target = api_token.as_str())]
fn revoke(api_token: String) -> Result<usize, AppError> {
    Ok(api_token.len())
}

#[audit(action = "user.show", actor = "ops", target = user_id)]
fn show_user(user_id: u64) -> Result<u64, AppError> {
    Ok(user_id)
}

#[audit(action = "headers.change", actor = "ops", target = "gateway", changes = (before, after))]
fn change_headers(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> Result<(), AppError> {
    let _ = (before, after);
    Ok(())
}

/// (target, changes) of the outcome record of `action`.
fn stored(action: &str) -> (Option<String>, Option<String>) {
    let c = rusqlite::Connection::open(audit_db()).unwrap();
    c.query_row(
        "SELECT target, changes FROM audit_records WHERE action = ?1 ORDER BY seq DESC LIMIT 1",
        [action],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap()
}

fn assert_not_in_trail(canary: &str) {
    let db = audit_db();
    for f in [db.to_path_buf(), db.with_extension("db-wal")] {
        if let Ok(raw) = std::fs::read(&f) {
            assert!(
                !String::from_utf8_lossy(&raw).contains(canary),
                "{canary} in {f:?}"
            );
        }
    }
}

#[test]
fn an_audit_target_expression_naming_a_secret_is_masked() {
    audit_db();
    assert_eq!(revoke("tok-audit-expr-canary".to_owned()).unwrap(), 21);
    assert_eq!(stored("key.revoke").0.as_deref(), Some(observa::REDACTED));
    assert_eq!(show_user(42).unwrap(), 42);
    assert_eq!(stored("user.show").0.as_deref(), Some("42"));
    assert_not_in_trail("tok-audit-expr-canary");
}

#[test]
fn audit_changes_mask_map_values_under_sensitive_keys() {
    audit_db();
    let before = BTreeMap::from([
        (
            "Authorization".to_owned(),
            "Bearer audit-old-canary".to_owned(),
        ),
        ("accept".to_owned(), "text/html".to_owned()),
    ]);
    let mut after = before.clone();
    after.insert("Authorization".into(), "Bearer audit-new-canary".into());
    change_headers(&before, &after).unwrap();
    let changes: Value = serde_json::from_str(&stored("headers.change").1.unwrap()).unwrap();
    assert_eq!(changes["before"]["Authorization"], observa::REDACTED);
    assert_eq!(changes["after"]["Authorization"], observa::REDACTED);
    assert_eq!(changes["after"]["accept"], "text/html");
    assert_not_in_trail("audit-old-canary");
    assert_not_in_trail("audit-new-canary");
}
