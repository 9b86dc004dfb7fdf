//! WebSocket connections: connect, authenticate, messages in and out (type and size, never
//! content), rate-limit hits, close with code and duration, and an active-connections gauge.
//!
//! With feature `ws` (axum's WebSocket), [`upgrade`] does it all around an axum handler:
//!
//! ```
//! # #[cfg(feature = "ws")]
//! # mod app {
//! async fn chat(ws: axum::extract::WebSocketUpgrade) -> axum::response::Response {
//!     observa::lifecycle::ws::upgrade(ws, "chat", |mut socket| async move {
//!         while let Some(Ok(msg)) = socket.recv().await {      // ws.message_received
//!             socket.send(msg).await.ok();                     // ws.message_sent
//!         }
//!     })                                                       // ws.closed when it ends
//! }
//! # pub fn router() -> axum::Router {
//! #     axum::Router::new().route("/chat", axum::routing::get(chat))
//! # }
//! # }
//! # fn main() {
//! #     #[cfg(feature = "ws")]
//! #     let _ = app::router();
//! # }
//! ```
//!
//! Without axum, a [`Connection`] is the same lifecycle for any WebSocket library: call
//! [`Connection::received`] / [`Connection::sent`] with the message type and length and run the
//! connection's code in [`Connection::context`].
//!
//! Lines (target `observa::ws`), each with `endpoint` and, through the context,
//! `connection_id` (`conn_` + 16 hex characters) and the correlation id of the upgrade request:
//! - `ws.connected` INFO;
//! - `ws.authenticated` INFO (binds `user_id`, and `tenant_id` when given, for the rest of the
//!   connection) / `ws.auth_failed` WARN with a `reason` chosen in code;
//! - `ws.message_received` / `ws.message_sent` DEBUG with `message_type` (`text`, `binary`,
//!   `ping`, `pong`, `close`) and `message_length` in bytes: per-message lines are volume, so
//!   they are DEBUG; the counters below always count;
//! - `ws.rate_limited` WARN with `scope` (chosen in code);
//! - `ws.closed` INFO with `close_code` (when a close frame was seen, from either side),
//!   `closed_by` (`client`, `server`, or `none` when the connection ended without a close
//!   frame), `duration_ms`, `messages_in`, `messages_out`, `bytes_in`, `bytes_out`. The close
//!   reason text is never written: it is free text from the peer.
//!
//! Metrics, labelled by `endpoint` (a `&'static str`, so a bounded set; never a tenant, user or
//! connection id): `ws_connections_active` (gauge, back to its value when the connection ends
//! however it ends: the close is written on drop), `ws_connections_total`,
//! `ws_messages_total{endpoint,direction,type}`, `ws_message_bytes_total{endpoint,direction}`,
//! `ws_rate_limited_total{endpoint,scope}`, `ws_connection_duration_seconds{endpoint}`.

use crate::context::{self, Context, Id};
use crate::metrics::{CounterFamily, GaugeFamily, HistogramFamily};
use std::fmt;
use std::sync::OnceLock;
use std::time::Instant;

/// Type of a WebSocket message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageType {
    /// Text frame.
    Text,
    /// Binary frame.
    Binary,
    /// Ping.
    Ping,
    /// Pong.
    Pong,
    /// Close frame.
    Close,
}

impl MessageType {
    /// The label: `text`, `binary`, `ping`, `pong`, `close`.
    pub const fn as_str(self) -> &'static str {
        match self {
            MessageType::Text => "text",
            MessageType::Binary => "binary",
            MessageType::Ping => "ping",
            MessageType::Pong => "pong",
            MessageType::Close => "close",
        }
    }
}

struct Metrics {
    active: GaugeFamily,
    opened: CounterFamily,
    messages: CounterFamily,
    bytes: CounterFamily,
    limited: CounterFamily,
    duration: HistogramFamily,
}

const DURATION_BUCKETS: &[f64] = &[
    0.1, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 14400.0, 86400.0,
];

fn metrics() -> Option<&'static Metrics> {
    static M: OnceLock<Option<Metrics>> = OnceLock::new();
    M.get_or_init(|| {
        let built = (|| {
            Ok::<_, crate::metrics::MetricsError>(Metrics {
                active: GaugeFamily::new(
                    "ws_connections_active",
                    "Open WebSocket connections, by endpoint",
                    &["endpoint"],
                )?,
                opened: CounterFamily::new(
                    "ws_connections_total",
                    "WebSocket connections opened, by endpoint",
                    &["endpoint"],
                )?,
                messages: CounterFamily::new(
                    "ws_messages_total",
                    "WebSocket messages, by endpoint, direction (in, out) and type",
                    &["endpoint", "direction", "type"],
                )?,
                bytes: CounterFamily::new(
                    "ws_message_bytes_total",
                    "WebSocket payload bytes, by endpoint and direction (in, out)",
                    &["endpoint", "direction"],
                )?,
                limited: CounterFamily::new(
                    "ws_rate_limited_total",
                    "WebSocket rate-limit hits, by endpoint and scope",
                    &["endpoint", "scope"],
                )?,
                duration: HistogramFamily::new(
                    "ws_connection_duration_seconds",
                    "Duration of WebSocket connections in seconds, by endpoint",
                    &["endpoint"],
                    DURATION_BUCKETS,
                )?,
            })
        })();
        match built {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::error!(
                    target: "observa",
                    event = "observa.metrics_error",
                    error = %e,
                    "websocket metrics disabled"
                );
                None
            }
        }
    })
    .as_ref()
}

/// Who sent the close frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClosedBy {
    None,
    Client,
    Server,
}

/// One WebSocket connection's lifecycle. Created by [`Connection::open`] (`ws.connected`,
/// gauge up); ends with [`Connection::close`] or on drop (`ws.closed`, gauge down).
pub struct Connection {
    endpoint: &'static str,
    id: Id,
    ctx: Context,
    start: Instant,
    messages_in: u64,
    messages_out: u64,
    bytes_in: u64,
    bytes_out: u64,
    close_code: Option<u16>,
    closed_by: ClosedBy,
    closed: bool,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("endpoint", &self.endpoint)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Opens a connection on `endpoint` in a copy of the current context (the upgrade
    /// request's): writes `ws.connected`, raises `ws_connections_active{endpoint}`.
    pub fn open(endpoint: &'static str) -> Connection {
        Connection::open_in(endpoint, context::current())
    }

    /// Opens a connection in `parent` (the context of the upgrade request).
    pub fn open_in(endpoint: &'static str, parent: Context) -> Connection {
        let id = new_id();
        let ctx = parent.with_connection_id(id.as_str());
        let c = Connection {
            endpoint,
            id,
            ctx,
            start: Instant::now(),
            messages_in: 0,
            messages_out: 0,
            bytes_in: 0,
            bytes_out: 0,
            close_code: None,
            closed_by: ClosedBy::None,
            closed: false,
        };
        if let Some(m) = metrics() {
            m.active.get(&[endpoint]).inc();
            m.opened.get(&[endpoint]).inc();
        }
        c.line(|| {
            crate::completion::own(|| {
                tracing::info!(name: crate::log::COMPLETION,
            target: "observa::ws", event = "ws.connected", endpoint)
            });
        });
        c
    }

    /// The connection id (`conn_` + 16 hex characters).
    pub fn id(&self) -> &str {
        self.id.as_str()
    }

    /// The connection's context: the upgrade request's plus `connection_id` (and the user and
    /// tenant once authenticated). Run the connection's code in it
    /// ([`Context::wrap`]) so every line it writes carries them.
    pub fn context(&self) -> Context {
        self.ctx.clone()
    }

    fn line(&self, f: impl FnOnce()) {
        let here = context::with_current(|c| c.connection_id() == Some(self.id.as_str()));
        if here {
            f();
        } else {
            self.ctx.clone().scope(f);
        }
    }

    /// The peer authenticated as `user` (of `tenant`): `ws.authenticated`; the user and tenant
    /// are bound for the rest of the connection (in its context and in the current scope).
    pub fn authenticated(&mut self, user: &str, tenant: Option<&str>) {
        self.ctx = std::mem::take(&mut self.ctx).with_user_id(user);
        if let Some(t) = tenant {
            self.ctx = std::mem::take(&mut self.ctx).with_tenant_id(t);
        }
        if context::with_current(|c| c.connection_id() == Some(self.id.as_str())) {
            context::bind(tenant, Some(user));
        }
        let endpoint = self.endpoint;
        self.line(|| {
            crate::completion::own(|| {
                tracing::info!(name: crate::log::COMPLETION,
            target: "observa::ws", event = "ws.authenticated", endpoint)
            });
        });
    }

    /// Authentication failed for `reason` (a code chosen in code, e.g. `invalid_token`; never the
    /// credential): `ws.auth_failed` WARN.
    pub fn auth_failed(&self, reason: &'static str) {
        let endpoint = self.endpoint;
        self.line(|| {
            crate::completion::own(|| {
                tracing::warn!(name: crate::log::COMPLETION,
            target: "observa::ws", event = "ws.auth_failed", endpoint, reason)
            });
        });
    }

    /// A message of `ty` and `len` payload bytes arrived.
    pub fn received(&mut self, ty: MessageType, len: usize) {
        self.messages_in += 1;
        self.bytes_in += len as u64;
        self.message("in", "ws.message_received", ty, len);
    }

    /// A message of `ty` and `len` payload bytes was sent.
    pub fn sent(&mut self, ty: MessageType, len: usize) {
        self.messages_out += 1;
        self.bytes_out += len as u64;
        self.message("out", "ws.message_sent", ty, len);
    }

    fn message(&self, direction: &'static str, event: &'static str, ty: MessageType, len: usize) {
        if let Some(m) = metrics() {
            m.messages
                .get(&[self.endpoint, direction, ty.as_str()])
                .inc();
            m.bytes.get(&[self.endpoint, direction]).inc_by(len as u64);
        }
        let endpoint = self.endpoint;
        self.line(|| {
            crate::completion::own(|| {
                tracing::debug!(
                    name: crate::log::COMPLETION,
                target: "observa::ws",
                    event,
                    endpoint,
                    message_type = ty.as_str(),
                    message_length = len as u64,
                )
            });
        });
    }

    /// Records the close code of a close frame (`code` from either side; the first one wins).
    pub fn close_frame(&mut self, code: Option<u16>, from_client: bool) {
        if let Some(c) = code {
            self.note_close(
                c,
                if from_client {
                    ClosedBy::Client
                } else {
                    ClosedBy::Server
                },
            );
        } else if self.closed_by == ClosedBy::None {
            self.closed_by = if from_client {
                ClosedBy::Client
            } else {
                ClosedBy::Server
            };
        }
    }

    fn note_close(&mut self, code: u16, by: ClosedBy) {
        if self.close_code.is_none() {
            self.close_code = (code != 0).then_some(code);
            if self.closed_by == ClosedBy::None {
                self.closed_by = by;
            }
        }
    }

    /// A rate limit hit the connection (`scope` chosen in code, e.g. `messages`):
    /// `ws.rate_limited` WARN and `ws_rate_limited_total{endpoint,scope}`.
    pub fn rate_limited(&self, scope: &'static str) {
        if let Some(m) = metrics() {
            m.limited.get(&[self.endpoint, scope]).inc();
        }
        let endpoint = self.endpoint;
        self.line(|| {
            crate::completion::own(|| {
                tracing::warn!(name: crate::log::COMPLETION,
            target: "observa::ws", event = "ws.rate_limited", endpoint, scope)
            });
        });
    }

    /// Ends the connection: `ws.closed`, gauge down. Dropping it does the same.
    pub fn close(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        let secs = self.start.elapsed().as_secs_f64();
        if let Some(m) = metrics() {
            m.active.get(&[self.endpoint]).dec();
            m.duration.get(&[self.endpoint]).observe(secs);
        }
        let closed_by = match self.closed_by {
            ClosedBy::None => "none",
            ClosedBy::Client => "client",
            ClosedBy::Server => "server",
        };
        let (endpoint, code) = (self.endpoint, self.close_code.map(u64::from));
        let (mi, mo, bi, bo) = (
            self.messages_in,
            self.messages_out,
            self.bytes_in,
            self.bytes_out,
        );
        self.line(|| {
            crate::completion::own(|| {
                tracing::info!(
                    name: crate::log::COMPLETION,
                target: "observa::ws",
                    event = "ws.closed",
                    endpoint,
                    close_code = code,
                    closed_by,
                    duration_ms = secs * 1e3,
                    messages_in = mi,
                    messages_out = mo,
                    bytes_in = bi,
                    bytes_out = bo,
                )
            });
        });
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.finish();
    }
}

fn new_id() -> Id {
    let v = crate::encode::rand::u64();
    Id::new(&format!("conn_{v:016x}"))
}

#[cfg(feature = "ws")]
pub use axum_ws::{Socket, upgrade};

#[cfg(feature = "ws")]
mod axum_ws {
    use super::{Connection, MessageType};
    use crate::context::{self, Context};
    use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
    use std::fmt;
    use std::future::Future;

    /// An axum [`WebSocket`] whose traffic is logged and counted (see the module docs).
    pub struct Socket {
        inner: WebSocket,
        conn: Connection,
    }

    impl fmt::Debug for Socket {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("Socket")
                .field("connection", &self.conn)
                .finish_non_exhaustive()
        }
    }

    fn kind(m: &Message) -> (MessageType, usize, Option<Option<u16>>) {
        match m {
            Message::Text(t) => (MessageType::Text, t.len(), None),
            Message::Binary(b) => (MessageType::Binary, b.len(), None),
            Message::Ping(b) => (MessageType::Ping, b.len(), None),
            Message::Pong(b) => (MessageType::Pong, b.len(), None),
            Message::Close(c) => (
                MessageType::Close,
                c.as_ref().map_or(0, |c| 2 + c.reason.len()),
                Some(c.as_ref().map(|c| c.code)),
            ),
        }
    }

    impl Socket {
        /// Wraps `socket` as a connection on `endpoint` in `parent` (`ws.connected`).
        pub fn new(endpoint: &'static str, socket: WebSocket, parent: Context) -> Socket {
            Socket {
                inner: socket,
                conn: Connection::open_in(endpoint, parent),
            }
        }

        /// The connection (id, context, authentication, rate limits).
        pub fn connection(&mut self) -> &mut Connection {
            &mut self.conn
        }

        /// Receives the next message (`ws.message_received`); `None` when the peer is gone.
        pub async fn recv(&mut self) -> Option<Result<Message, axum::Error>> {
            let m = self.inner.recv().await;
            if let Some(Ok(msg)) = &m {
                let (ty, len, close) = kind(msg);
                if let Some(code) = close {
                    self.conn.close_frame(code, true);
                }
                self.conn.received(ty, len);
            }
            m
        }

        /// Sends `msg` (`ws.message_sent` once it is written).
        pub async fn send(&mut self, msg: Message) -> Result<(), axum::Error> {
            let (ty, len, close) = kind(&msg);
            let r = self.inner.send(msg).await;
            if r.is_ok() {
                if let Some(code) = close {
                    self.conn.close_frame(code, false);
                }
                self.conn.sent(ty, len);
            }
            r
        }

        /// The wrapped socket and the connection, for code that needs the raw socket.
        pub fn into_parts(self) -> (WebSocket, Connection) {
            (self.inner, self.conn)
        }
    }

    /// `ws.on_upgrade` with the connection's lifecycle: `handler` gets a [`Socket`] and runs
    /// in the connection's context (every line it writes carries `connection_id` and the
    /// upgrade request's correlation id); `ws.closed` is written when the socket is dropped.
    pub fn upgrade<F, Fut>(
        ws: WebSocketUpgrade,
        endpoint: &'static str,
        handler: F,
    ) -> axum::response::Response
    where
        F: FnOnce(Socket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let parent = context::current();
        ws.on_upgrade(move |raw| {
            let socket = Socket::new(endpoint, raw, parent);
            let ctx = socket.conn.context();
            ctx.wrap(handler(socket))
        })
    }
}
