//! `service -- ops DIR`: the example's command writes every operations file for its own
//! objectives (an event, an event on a renamed family, a route), and promtool accepts the rules
//! (skipped with a message when promtool, from the Debian package `prometheus`, is absent).

use std::process::Command;

#[test]
fn service_ops_writes_rules_dashboard_runbooks_and_catalogue() {
    let dir = std::env::temp_dir().join(format!("observa-service-ops-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(env!("CARGO_BIN_EXE_service"))
        .arg("ops")
        .arg(&dir)
        .output()
        .expect("run service ops");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = String::from_utf8_lossy(&out.stdout).to_string();
    for f in [
        "prometheus/observa-slo.rules.yml",
        "grafana/observa-dashboard.json",
        "catalog/events.md",
        "catalog/events.schema.json",
        "runbooks/SloOrdersGetSuccessBurnPage.md",
        "runbooks/SloWhoamiLatencyBurnTicket.md",
        "runbooks/SloHttpOrdersIdLatencyBurnPage.md",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing; listed:\n{listed}");
        assert!(listed.contains(f), "{f} not listed");
    }
    let rules =
        std::fs::read_to_string(dir.join("prometheus/observa-slo.rules.yml")).expect("rules");
    // The renamed family (`metric = "api_calls"`) and the HTTP metrics are what the rules read.
    assert!(
        rules.contains("api_calls_total{event=\\\"whoami\\\""),
        "renamed family"
    );
    assert!(
        rules.contains("http_requests_total{route=\\\"/orders/{id}\\\""),
        "route"
    );
    assert!(
        rules.contains("le=\\\"0.3\\\""),
        "the route's 300 ms threshold"
    );
    let promtool = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("promtool"))
            .find(|p| p.is_file())
    });
    assert!(
        promtool.is_some() || std::env::var_os("OBSERVA_REQUIRE_PROMETHEUS").is_none(),
        "promtool is required (OBSERVA_REQUIRE_PROMETHEUS is set) but not on PATH"
    );
    match promtool {
        None => eprintln!(
            "SKIPPED promtool check: promtool not installed (Debian package `prometheus`)"
        ),
        Some(p) => {
            let out = Command::new(p)
                .args(["check", "rules"])
                .arg(dir.join("prometheus/observa-slo.rules.yml"))
                .output()
                .expect("promtool");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
