//! Which address is the client's (`client_ip` of the request line): a real axum server on
//! 127.0.0.1 served with `ConnectInfo`, a real client sending forwarding headers.

use axum::Router;
use axum::routing::get;
use observa::http::{ForwardedHeader, IpCidr, RequestLayer};
use serde_json::Value;
use std::net::SocketAddr;

mod log_support;

async fn serve(layer: RequestLayer, connect_info: bool) -> SocketAddr {
    log_support::capture("client-ip-tests", "info");
    let app = Router::new()
        .route("/ip", get(|| async { "ok" }))
        .layer(layer);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        if connect_info {
            axum::serve(l, app.into_make_service_with_connect_info::<SocketAddr>())
                .await
                .unwrap()
        } else {
            axum::serve(l, app).await.unwrap()
        }
    });
    addr
}

/// Sends GET /ip with `headers` and id `id`; returns the request line.
async fn line(addr: SocketAddr, id: &str, headers: &[(&str, &str)]) -> Value {
    let mut req = reqwest::Client::new()
        .get(format!("http://{addr}/ip"))
        .header("x-request-id", id);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    assert_eq!(req.send().await.unwrap().status(), 200);
    let got = log_support::wait_lines(
        |v| v["event"] == "request.completed" && v["correlation_id"] == id,
        |l| !l.is_empty(),
    );
    assert_eq!(got.len(), 1, "{id}: {got:?}");
    got[0].clone()
}

const CHAIN: &str = "6.6.6.6, 203.0.113.7, 10.0.0.2";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_forwarding_headers_are_ignored() {
    let addr = serve(observa::http::layer(), true).await;
    for (i, h) in [
        ("x-forwarded-for", "6.6.6.6"),
        ("x-forwarded-for", CHAIN),
        ("forwarded", "for=6.6.6.6"),
        ("x-real-ip", "6.6.6.6"),
    ]
    .into_iter()
    .enumerate()
    {
        let l = line(addr, &format!("spoof-{i}"), &[h]).await;
        assert_eq!(l["client_ip"], "127.0.0.1", "{h:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_connect_info_there_is_no_client_ip() {
    let addr = serve(observa::http::layer(), false).await;
    let l = line(addr, "no-peer-1", &[("x-forwarded-for", "6.6.6.6")]).await;
    assert!(l.get("client_ip").is_none(), "{l}");
    // Declared ranges cannot be checked without the peer: still none.
    let ranges = ["127.0.0.0/8".parse::<IpCidr>().unwrap()];
    let addr = serve(observa::http::layer().trusted_proxies(ranges), false).await;
    let l = line(addr, "no-peer-2", &[("x-forwarded-for", "6.6.6.6")]).await;
    assert!(l.get("client_ip").is_none(), "{l}");
    // A hop count says the peer is the nearest proxy: the last entry is the client.
    let addr = serve(observa::http::layer().trusted_proxy_hops(1), false).await;
    let l = line(addr, "no-peer-3", &[("x-forwarded-for", CHAIN)]).await;
    assert_eq!(l["client_ip"], "10.0.0.2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_ranges_take_the_rightmost_untrusted_address() {
    let ranges: Vec<IpCidr> = ["127.0.0.1", "10.0.0.0/8"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    let addr = serve(observa::http::layer().trusted_proxies(ranges.clone()), true).await;
    let l = line(addr, "cidr-1", &[("x-forwarded-for", CHAIN)]).await;
    assert_eq!(l["client_ip"], "203.0.113.7");
    // Several header lines are one list, in order.
    let l = line(
        addr,
        "cidr-2",
        &[
            ("x-forwarded-for", "6.6.6.6, 198.51.100.9"),
            ("x-forwarded-for", "10.1.1.1"),
        ],
    )
    .await;
    assert_eq!(l["client_ip"], "198.51.100.9");
    // Malformed values: the header is not used, the peer is.
    for (i, bad) in [
        "6.6.6.6, not-an-ip",
        "203.0.113.7, 10.0.0.2 10.0.0.3",
        "unknown",
        "",
        &"1.2.3.4, ".repeat(40),
    ]
    .into_iter()
    .enumerate()
    {
        let l = line(addr, &format!("cidr-bad-{i}"), &[("x-forwarded-for", bad)]).await;
        assert_eq!(l["client_ip"], "127.0.0.1", "{bad:?}");
    }
    // A peer outside the ranges is the client, whatever it says.
    let only_ten: Vec<IpCidr> = vec!["10.0.0.0/8".parse().unwrap()];
    let addr = serve(observa::http::layer().trusted_proxies(only_ten), true).await;
    let l = line(addr, "cidr-untrusted-peer", &[("x-forwarded-for", CHAIN)]).await;
    assert_eq!(l["client_ip"], "127.0.0.1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hop_counts_and_rfc7239_forwarded() {
    let addr = serve(observa::http::layer().trusted_proxy_hops(2), true).await;
    // Chain + peer = [6.6.6.6, 203.0.113.7, 10.0.0.2, 127.0.0.1]; two proxies: 10.0.0.2 is
    // the second, so the client is 203.0.113.7.
    let l = line(addr, "hops-1", &[("x-forwarded-for", CHAIN)]).await;
    assert_eq!(l["client_ip"], "203.0.113.7");
    // `Forwarded` is not read when the proxies write `X-Forwarded-For`.
    let l = line(addr, "hops-2", &[("forwarded", "for=6.6.6.6, for=7.7.7.7")]).await;
    assert_eq!(l["client_ip"], "127.0.0.1");

    let ranges = vec!["127.0.0.0/8".parse::<IpCidr>().unwrap()];
    let fwd = observa::http::layer()
        .trusted_proxies(ranges)
        .forwarded_header(ForwardedHeader::Forwarded);
    let addr = serve(fwd, true).await;
    let l = line(
        addr,
        "fwd-1",
        &[(
            "forwarded",
            r#"for=6.6.6.6, For="[2001:db8:cafe::17]:4711";proto=https;by=127.0.0.1"#,
        )],
    )
    .await;
    assert_eq!(l["client_ip"], "2001:db8:cafe::17");
    let l = line(
        addr,
        "fwd-2",
        &[("forwarded", "for=192.0.2.60:8080;proto=http")],
    )
    .await;
    assert_eq!(l["client_ip"], "192.0.2.60");
    // X-Forwarded-For is not read when the proxies write `Forwarded`.
    let l = line(addr, "fwd-3", &[("x-forwarded-for", "6.6.6.6")]).await;
    assert_eq!(l["client_ip"], "127.0.0.1");
    for (i, bad) in [
        "for=unknown",
        "for=_hidden;proto=https",
        "for=[2001:db8::1",
        "for=\"6.6.6.6",
        "by=10.0.0.1",
        "for=6.6.6.6;for=7.7.7.7",
    ]
    .into_iter()
    .enumerate()
    {
        let l = line(addr, &format!("fwd-bad-{i}"), &[("forwarded", bad)]).await;
        assert_eq!(l["client_ip"], "127.0.0.1", "{bad:?}");
    }
}
