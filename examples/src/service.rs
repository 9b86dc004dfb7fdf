//! A long-running axum service with the observa layer.
//!
//! ```text
//! cargo run -p examples --bin service            # OBSERVA_ADDR=127.0.0.1:3000 by default
//! curl -i -H 'X-Request-ID: demo-1' localhost:3000/tenants/acme/whoami
//! curl -i localhost:3000/orders/0                # 404: one DEBUG line
//! curl -i 'localhost:3000/signup?email=nope'     # 422 with a validation list: one INFO line
//! curl -i localhost:3000/orders/13               # 500: one ERROR line with the error chain
//! curl -i localhost:3000/boom                    # handler panic: 500 JSON with the request id
//! curl -s localhost:3000/metrics | grep http_
//! curl -s localhost:3000/ops                     # the generated operations files
//! cargo run -p examples --bin service -- ops DIR # write them: rules, dashboard, runbooks, catalogue
//! ```

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use observa::http::{ResponseError, ValidationErrors};
use observa::observed;
use observa::ops::Ops;
use observa::slo::Objective;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;

/// Answers with the tenant and correlation id read back from observa's context: run many
/// concurrent curls with different tenants and ids and each gets its own.
#[observed(
    event = "whoami",
    metric = "api_calls",
    tenant,
    slo(success = 99.5, latency_ms = 100, percentile = 95, window = "7d")
)]
async fn whoami_inner(tenant: &str) -> Value {
    tokio::task::yield_now().await;
    let ctx = observa::context::current();
    json!({ "tenant_id": ctx.tenant_id(), "correlation_id": ctx.correlation_id() })
}

async fn whoami(Path(tenant): Path<String>) -> Json<Value> {
    // What an authentication middleware does: bind who is calling for the rest of the request
    // (the request line carries it too).
    observa::context::bind(Some(&tenant), None);
    Json(whoami_inner(&tenant).await)
}

#[derive(Debug, observa::Classify)]
enum OrderError {
    #[classify(client)]
    NotFound(u64),
    Database(std::io::Error),
}

impl std::fmt::Display for OrderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OrderError::NotFound(id) => write!(f, "order {id} not found"),
            OrderError::Database(_) => f.write_str("loading the order failed"),
        }
    }
}

impl std::error::Error for OrderError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OrderError::Database(e) => Some(e),
            OrderError::NotFound(_) => None,
        }
    }
}

impl IntoResponse for OrderError {
    fn into_response(self) -> Response {
        match &self {
            OrderError::NotFound(_) => (StatusCode::NOT_FOUND, self.to_string()).into_response(),
            OrderError::Database(_) => {
                let mut r = (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
                ResponseError::new("database", &self).attach(&mut r);
                r
            }
        }
    }
}

#[observed(
    event = "orders.get",
    fields(order_id),
    slo(success = 99.9, latency_ms = 250, percentile = 99, window = "30d")
)]
async fn load_order(order_id: u64) -> Result<Value, OrderError> {
    match order_id {
        0 => Err(OrderError::NotFound(order_id)),
        13 => Err(OrderError::Database(std::io::Error::other(
            "connection reset",
        ))),
        _ => Ok(json!({ "order_id": order_id, "state": "paid" })),
    }
}

async fn order(Path(id): Path<u64>) -> Result<Json<Value>, OrderError> {
    load_order(id).await.map(Json)
}

async fn signup(Query(q): Query<HashMap<String, String>>) -> Response {
    let mut errors = ValidationErrors::default();
    match q.get("email") {
        None => errors.push("email", "required"),
        Some(e) if !e.contains('@') => errors.push("email", "invalid_format"),
        Some(_) => {}
    }
    if errors.0.is_empty() {
        return (StatusCode::CREATED, Json(json!({ "ok": true }))).into_response();
    }
    let mut r = (StatusCode::UNPROCESSABLE_ENTITY, Json(&errors.0)).into_response();
    errors.attach(&mut r);
    r
}

async fn boom() -> &'static str {
    panic!("the handler failed")
}

/// The service's name: the Prometheus `job` its operations files refer to.
fn service_name() -> String {
    std::env::var("OBSERVA_SERVICE_NAME").unwrap_or_else(|_| "service".into())
}

fn app() -> Router {
    // The route objective is declared with the layer, before the first request.
    let layer = observa::http::layer().slo(
        "/orders/{id}",
        Objective::success(99.0).with_latency(300, 99.0),
    );
    Router::new()
        .route("/tenants/{tenant}/whoami", get(whoami))
        .route("/orders/{id}", get(order))
        .route("/signup", get(signup))
        .route("/boom", get(boom))
        .route("/health", get(|| async { "ok" }))
        .route("/metrics", get(observa::http::metrics_handler))
        .layer(layer)
        .merge(Ops::new(service_name()).router())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("ops") {
        let Some(dir) = args.get(1) else {
            return Err("usage: service ops DIR".into());
        };
        let _app = app();
        for path in Ops::new(service_name()).write_dir(dir)? {
            println!("{}", path.display());
        }
        return Ok(());
    }
    let _guard = observa::init_from_env()?;
    let addr: SocketAddr = std::env::var("OBSERVA_ADDR")
        .unwrap_or_else(|_| "127.0.0.1:3000".into())
        .parse()?;
    let app = app();
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(event = "service.started", addr = %listener.local_addr()?);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
