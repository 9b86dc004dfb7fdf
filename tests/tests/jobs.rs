//! Jobs: the request's context goes into a serde payload on a real queue (a tokio channel of
//! JSON text) and the worker's `#[observed]` lines continue the request's correlation id.

use observa::carrier::JobContext;
use observa::{Context, observed};
use serde::{Deserialize, Serialize};
use serde_json::Value;

mod log_support;

fn setup() {
    log_support::capture("jobs-tests", "info");
}

fn lines_where(n: usize, f: impl Fn(&Value) -> bool) -> Vec<Value> {
    log_support::wait_lines(f, |l| l.len() >= n)
}

#[derive(Serialize, Deserialize)]
struct SendInvoice {
    ctx: JobContext,
    invoice: u64,
}

#[observed(event = "invoice.send", fields(invoice))]
async fn send_invoice(invoice: u64) -> Result<(), std::io::Error> {
    tokio::task::yield_now().await;
    tracing::info!(event = "invoice.rendered", invoice);
    Ok(())
}

#[observed(event = "invoice.audit", correlation = job.ctx.correlation_id.as_deref().unwrap_or("none"), fields(invoice = job.invoice))]
fn audit_invoice(job: &SendInvoice) -> u64 {
    job.invoice
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_continues_the_request_correlation() {
    setup();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(64);
    let worker = tokio::spawn(async move {
        let mut done = 0;
        while let Some(payload) = rx.recv().await {
            let job: SendInvoice = serde_json::from_str(&payload).expect("payload");
            audit_invoice(&job);
            let invoice = job.invoice;
            job.ctx.scope(send_invoice(invoice)).await.expect("worker");
            done += 1;
        }
        done
    });
    // 50 "requests", each enqueuing one job from inside its own context.
    for i in 0..50u64 {
        let ctx = Context::new()
            .with_correlation_id(format!("job-req-{i}"))
            .with_tenant_id(format!("tenant-{i}"))
            .with_user_id("u1")
            .with_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        let tx = tx.clone();
        ctx.wrap(async move {
            let job = SendInvoice {
                ctx: JobContext::current(),
                invoice: 1000 + i,
            };
            tx.send(serde_json::to_string(&job).unwrap()).await.unwrap();
        })
        .await;
    }
    drop(tx);
    assert_eq!(worker.await.unwrap(), 50);
    let lines = lines_where(150, |v| {
        v["correlation_id"]
            .as_str()
            .is_some_and(|c| c.starts_with("job-req-"))
    });
    assert_eq!(lines.len(), 150, "3 lines per job");
    for l in &lines {
        let i: u64 = l["correlation_id"].as_str().unwrap()["job-req-".len()..]
            .parse()
            .unwrap();
        assert_eq!(l["invoice"], 1000 + i, "{l}");
        if l["event"] != "invoice.audit.completed" {
            assert_eq!(l["tenant_id"], format!("tenant-{i}"), "{l}");
            assert_eq!(l["user_id"], "u1");
        }
    }
    // The worker's own base context stays empty.
    assert_eq!(observa::context::current().tenant_id(), None);
}

#[test]
fn carrier_round_trips_and_sanitises_untrusted_payloads() {
    let ctx = Context::new()
        .with_correlation_id("req-9")
        .with_tenant_id("acme")
        .with_user_id("u9")
        .with_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    let job = ctx.clone().scope(JobContext::current);
    let text = serde_json::to_string(&job).unwrap();
    let back: JobContext = serde_json::from_str(&text).unwrap();
    assert_eq!(back, job);
    assert_eq!(back.into_context(), ctx);
    // Old or foreign payloads: missing fields default, bad ids are replaced, never a panic.
    let empty: JobContext = serde_json::from_str("{}").unwrap();
    assert_eq!(
        empty.into_context().correlation_id().map(str::len),
        Some(32)
    );
    let hostile: JobContext =
        serde_json::from_str(r#"{"correlation_id":"x\u001b[31m\r\nFAKE","traceparent":"00-zz"}"#)
            .unwrap();
    let c = hostile.into_context();
    assert_ne!(c.correlation_id(), Some("x\u{1b}[31m\r\nFAKE"));
    assert_eq!(c.traceparent(), None);
}
