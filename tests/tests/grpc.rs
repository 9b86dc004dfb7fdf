//! The request layer on a real tonic server (127.0.0.1, port 0) called by a real tonic client.
//! The service is hand-written (prost message derived in code, `tonic::server::Grpc` with the
//! prost codec): no protoc. Lines are parsed back as JSON, the exposition with a Prometheus
//! parser. A server-streaming method sends its status in the trailers (after a message), which
//! the layer reads from the watched response body.

use serde_json::Value;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tonic::codegen::http;

#[derive(Clone, PartialEq, prost::Message)]
struct HelloRequest {
    #[prost(string, tag = "1")]
    name: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct HelloReply {
    #[prost(string, tag = "1")]
    correlation_id: String,
    #[prost(string, tag = "2")]
    traceparent: String,
}

type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// `demo.Greeter/SayHello`: the name picks the answer.
struct SayHello;

impl tonic::server::UnaryService<HelloRequest> for SayHello {
    type Response = HelloReply;
    type Future = BoxFut<Result<tonic::Response<HelloReply>, tonic::Status>>;

    fn call(&mut self, req: tonic::Request<HelloRequest>) -> Self::Future {
        Box::pin(async move {
            tokio::task::yield_now().await;
            let c = observa::context::current();
            match req.get_ref().name.as_str() {
                "missing" => Err(tonic::Status::not_found("no such greeting")),
                "bad" => Err(tonic::Status::invalid_argument("name")),
                "auth" => Err(tonic::Status::unauthenticated("who are you")),
                "boom" => Err(tonic::Status::internal("database gone")),
                "down" => Err(tonic::Status::unavailable("try later")),
                "panic" => panic!("grpc handler exploded"),
                _ => Ok(tonic::Response::new(HelloReply {
                    correlation_id: c.correlation_id().unwrap_or_default().to_string(),
                    traceparent: c.traceparent().unwrap_or_default().to_string(),
                })),
            }
        })
    }
}

type ReplyStream =
    Pin<Box<dyn futures_util::Stream<Item = Result<HelloReply, tonic::Status>> + Send>>;

/// `demo.Greeter/StreamHellos`: one message, then the name picks the end: `fail` a `DATA_LOSS`
/// status (in the trailers), `endless` never ends, anything else a second message and `OK`.
struct StreamHellos;

impl tonic::server::ServerStreamingService<HelloRequest> for StreamHellos {
    type Response = HelloReply;
    type ResponseStream = ReplyStream;
    type Future = BoxFut<Result<tonic::Response<ReplyStream>, tonic::Status>>;

    fn call(&mut self, req: tonic::Request<HelloRequest>) -> Self::Future {
        use futures_util::StreamExt;
        let name = req.into_inner().name;
        Box::pin(async move {
            let reply = |n: &str| HelloReply {
                correlation_id: n.to_owned(),
                traceparent: String::new(),
            };
            let first = futures_util::stream::iter([Ok(reply("first"))]);
            let stream: ReplyStream = match name.as_str() {
                "fail" => Box::pin(first.chain(futures_util::stream::iter([Err(
                    tonic::Status::data_loss("stream broke"),
                )]))),
                "endless" => Box::pin(first.chain(futures_util::stream::pending())),
                _ => Box::pin(first.chain(futures_util::stream::iter([Ok(reply("second"))]))),
            };
            Ok(tonic::Response::new(stream))
        })
    }
}

#[derive(Clone)]
struct Greeter;

impl tonic::server::NamedService for Greeter {
    const NAME: &'static str = "demo.Greeter";
}

impl tower::Service<http::Request<tonic::body::Body>> for Greeter {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFut<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        Box::pin(async move {
            let codec = tonic_prost::ProstCodec::<HelloReply, HelloRequest>::default();
            match req.uri().path() {
                "/demo.Greeter/SayHello" => {
                    Ok(tonic::server::Grpc::new(codec).unary(SayHello, req).await)
                }
                STREAM => Ok(tonic::server::Grpc::new(codec)
                    .server_streaming(StreamHellos, req)
                    .await),
                _ => Ok(tonic::Status::unimplemented("no such method").into_http()),
            }
        })
    }
}

static LOGS: OnceLock<observa::MemoryWriter> = OnceLock::new();
static SERVER: OnceLock<SocketAddr> = OnceLock::new();
static STREAM_SERVER: OnceLock<SocketAddr> = OnceLock::new();

/// A second server whose layer has its own metric names (so its in-flight gauge is its own).
fn stream_server() -> SocketAddr {
    setup();
    *STREAM_SERVER.get_or_init(|| {
        let layer = observa::http::layer()
            .try_metrics(
                observa::http::HttpMetrics::new()
                    .requests_total("grpc_stream_requests_total")
                    .duration_histogram("grpc_stream_duration_seconds")
                    .in_flight_gauge("grpc_stream_in_flight"),
            )
            .expect("metric shape")
            .grpc();
        serve_grpc(layer)
    })
}

fn serve_grpc(layer: observa::http::GrpcLayer) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(l.local_addr().expect("addr")).expect("send");
            tonic::transport::Server::builder()
                .layer(layer)
                .add_service(Greeter)
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(l))
                .await
                .expect("serve");
        });
    });
    rx.recv().expect("server")
}

fn setup() -> SocketAddr {
    LOGS.get_or_init(|| {
        let w = observa::MemoryWriter::new();
        let guard = observa::init(
            observa::Config::new("grpc-tests")
                .with_writer(w.clone())
                .with_log_level("info,observa::http=debug"),
        )
        .expect("init");
        std::mem::forget(guard);
        w
    });
    *SERVER.get_or_init(|| serve_grpc(observa::http::grpc_layer()))
}

async fn call(
    addr: SocketAddr,
    method: &'static str,
    name: &str,
    request_id: &str,
    traceparent: Option<&str>,
) -> Result<HelloReply, tonic::Status> {
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let mut client = tonic::client::Grpc::new(channel);
    client.ready().await.expect("ready");
    let mut req = tonic::Request::new(HelloRequest { name: name.into() });
    req.metadata_mut()
        .insert("x-request-id", request_id.parse().expect("ascii"));
    if let Some(tp) = traceparent {
        req.metadata_mut()
            .insert("traceparent", tp.parse().expect("ascii"));
    }
    let codec = tonic_prost::ProstCodec::<HelloRequest, HelloReply>::default();
    client
        .unary(req, http::uri::PathAndQuery::from_static(method), codec)
        .await
        .map(tonic::Response::into_inner)
}

fn lines() -> Vec<Value> {
    LOGS.get()
        .expect("setup")
        .contents()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
        .collect()
}

/// The one request line of correlation id `id`.
fn request_line(id: &str) -> Value {
    let is_req = |v: &Value| {
        v["correlation_id"] == id
            && (v["event"] == "request.completed" || v["event"] == "request.failed")
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !lines().iter().any(is_req) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(50));
    let got: Vec<Value> = lines().into_iter().filter(is_req).collect();
    assert_eq!(got.len(), 1, "one line for {id}: {got:?}");
    got.into_iter().next().unwrap_or_default()
}

fn requests_total(route: &str, status: &str) -> f64 {
    family_total("http_requests_total", route, status)
}

fn family_total(family: &str, route: &str, status: &str) -> f64 {
    let text = observa::metrics::render();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .expect("exposition parses");
    scrape
        .samples
        .iter()
        .filter(|s| {
            s.metric == family
                && s.labels.get("route") == Some(route)
                && s.labels.get("status") == Some(status)
        })
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
        .sum()
}

const METHOD: &str = "/demo.Greeter/SayHello";
const STREAM: &str = "/demo.Greeter/StreamHellos";

/// Opens `StreamHellos` with `name`; returns the client's stream.
async fn open_stream(
    addr: SocketAddr,
    name: &str,
    request_id: &str,
) -> tonic::Streaming<HelloReply> {
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let mut client = tonic::client::Grpc::new(channel);
    client.ready().await.expect("ready");
    let mut req = tonic::Request::new(HelloRequest { name: name.into() });
    req.metadata_mut()
        .insert("x-request-id", request_id.parse().expect("ascii"));
    let codec = tonic_prost::ProstCodec::<HelloRequest, HelloReply>::default();
    client
        .server_streaming(req, http::uri::PathAndQuery::from_static(STREAM), codec)
        .await
        .expect("stream opens")
        .into_inner()
}

fn stream_in_flight() -> f64 {
    let text = observa::metrics::render();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .expect("exposition parses");
    scrape
        .samples
        .iter()
        .find(|s| s.metric == "grpc_stream_in_flight")
        .map_or(f64::NAN, |s| match s.value {
            prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_status_in_the_trailers_is_read_when_the_body_ends() {
    let addr = stream_server();
    let count = |status| family_total("grpc_stream_requests_total", STREAM, status);

    // One message, then DATA_LOSS in the trailers (the response head said nothing).
    let mut s = open_stream(addr, "fail", "grpc-trailers-fail").await;
    let first = s.message().await.expect("first message").expect("some");
    assert_eq!(first.correlation_id, "first");
    let st = s.message().await.expect_err("the stream fails");
    assert_eq!(st.code(), tonic::Code::DataLoss);
    let line = request_line("grpc-trailers-fail");
    assert_eq!(line["event"], "request.failed", "{line}");
    assert_eq!(line["outcome"], "server_error", "{line}");
    assert_eq!(line["level"], "error", "{line}");
    assert_eq!(line["grpc_status"], 15, "{line}");
    assert_eq!(line["grpc_code"], "DATA_LOSS", "{line}");
    assert_eq!(line["route"], STREAM, "{line}");
    assert_eq!(count("15"), 1.0);
    assert_eq!(count("0"), 0.0, "not counted as OK at the head");

    // Two messages and OK in the trailers.
    let mut s = open_stream(addr, "ok", "grpc-trailers-ok").await;
    assert!(s.message().await.expect("first").is_some());
    assert!(s.message().await.expect("second").is_some());
    assert!(s.message().await.expect("end").is_none());
    let line = request_line("grpc-trailers-ok");
    assert_eq!(line["event"], "request.completed", "{line}");
    assert_eq!(line["outcome"], "ok", "{line}");
    assert_eq!(line["grpc_code"], "OK", "{line}");
    assert_eq!(count("0"), 1.0);

    // The client goes away after the first message of an endless stream: the body is dropped,
    // the call ends CANCELLED, one line, and the in-flight gauge comes back to 0.
    let mut s = open_stream(addr, "endless", "grpc-trailers-gone").await;
    assert!(s.message().await.expect("first").is_some());
    assert_eq!(stream_in_flight(), 1.0, "the stream is in flight");
    drop(s);
    let line = request_line("grpc-trailers-gone");
    assert_eq!(line["outcome"], "cancelled", "{line}");
    assert_eq!(line["grpc_code"], "CANCELLED", "{line}");
    assert_eq!(line["route"], STREAM, "{line}");
    assert_eq!(stream_in_flight(), 0.0);
    assert_eq!(count("1"), 1.0);
    let statuses: f64 = ["0", "1", "15"].iter().map(|s| count(s)).sum();
    assert_eq!(statuses, 3.0, "each call counted once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_calls_get_method_route_grpc_status_and_outcome_classes() {
    let addr = setup();
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    // OK: the request id and traceparent from metadata reach the handler and the line.
    let reply = call(addr, METHOD, "ada", "grpc-ok-1", Some(tp))
        .await
        .expect("ok");
    assert_eq!(reply.correlation_id, "grpc-ok-1");
    assert_eq!(reply.traceparent, tp);
    let line = request_line("grpc-ok-1");
    assert_eq!(line["event"], "request.completed");
    assert_eq!(line["route"], METHOD);
    assert_eq!(line["method"], "POST");
    assert_eq!(line["outcome"], "ok");
    assert_eq!(line["grpc_status"], 0);
    assert_eq!(line["grpc_code"], "OK");
    assert_eq!(line["level"], "info");
    assert_eq!(line["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");

    // Client errors: DEBUG `request.completed` lines, outcome client_error.
    for (name, id, code, code_name) in [
        ("missing", "grpc-nf-1", tonic::Code::NotFound, "NOT_FOUND"),
        (
            "bad",
            "grpc-ia-1",
            tonic::Code::InvalidArgument,
            "INVALID_ARGUMENT",
        ),
        (
            "auth",
            "grpc-ua-1",
            tonic::Code::Unauthenticated,
            "UNAUTHENTICATED",
        ),
    ] {
        let st = call(addr, METHOD, name, id, None).await.expect_err(name);
        assert_eq!(st.code(), code);
        let line = request_line(id);
        assert_eq!(line["event"], "request.completed", "{line}");
        assert_eq!(line["outcome"], "client_error", "{line}");
        assert_eq!(line["level"], "debug", "{line}");
        assert_eq!(line["grpc_status"], code as i32, "{line}");
        assert_eq!(line["grpc_code"], code_name, "{line}");
        assert_eq!(line["route"], METHOD, "{line}");
    }

    // Server errors: ERROR `request.failed` lines.
    for (name, id, code) in [
        ("boom", "grpc-in-1", tonic::Code::Internal),
        ("down", "grpc-un-1", tonic::Code::Unavailable),
    ] {
        let st = call(addr, METHOD, name, id, None).await.expect_err(name);
        assert_eq!(st.code(), code);
        let line = request_line(id);
        assert_eq!(line["event"], "request.failed", "{line}");
        assert_eq!(line["outcome"], "server_error", "{line}");
        assert_eq!(line["level"], "error", "{line}");
        assert_eq!(line["grpc_status"], code as i32, "{line}");
    }

    // A panic: the client gets INTERNAL (a gRPC answer, not a JSON body), the line the panic.
    let st = call(addr, METHOD, "panic", "grpc-panic-1", None)
        .await
        .expect_err("panic");
    assert_eq!(st.code(), tonic::Code::Internal);
    let line = request_line("grpc-panic-1");
    assert_eq!(line["outcome"], "panic");
    assert_eq!(line["grpc_code"], "INTERNAL");
    assert!(
        line["error"]
            .as_str()
            .unwrap_or("")
            .contains("grpc handler exploded")
    );

    // An unknown method: UNIMPLEMENTED, and the client-chosen path is not a label.
    let st = call(
        addr,
        "/demo.Greeter/CANARYmethod",
        "x",
        "grpc-unimpl-1",
        None,
    )
    .await
    .expect_err("unimplemented");
    assert_eq!(st.code(), tonic::Code::Unimplemented);
    let line = request_line("grpc-unimpl-1");
    assert_eq!(line["route"], "unmatched");
    assert_eq!(line["outcome"], "server_error");
    assert!(!observa::metrics::render().contains("CANARYmethod"));

    // Metrics: route = method, status = the grpc-status code.
    assert_eq!(requests_total(METHOD, "0"), 1.0);
    assert_eq!(requests_total(METHOD, "5"), 1.0);
    assert_eq!(requests_total(METHOD, "3"), 1.0);
    assert_eq!(requests_total(METHOD, "16"), 1.0);
    assert_eq!(requests_total(METHOD, "13"), 2.0);
    assert_eq!(requests_total(METHOD, "14"), 1.0);
    assert_eq!(requests_total("unmatched", "12"), 1.0);
    assert_eq!(requests_total(METHOD, "200"), 0.0);
}
