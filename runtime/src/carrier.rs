//! Carrying a [`Context`] across process boundaries: job payloads (serde) and HTTP headers
//! (request ids and W3C `traceparent`).
//!
//! A request that enqueues work puts [`JobContext::current()`] into the job payload; the worker
//! deserializes it and runs the job inside [`JobContext::scope`], so every line the worker writes
//! (including those of `#[observed]` functions it calls, which inherit the context) carries the
//! request's correlation id, tenant and user:
//!
//! ```
//! use observa::carrier::JobContext;
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Job { ctx: JobContext, order_id: u64 }
//!
//! # async fn worker(payload: &str) -> Result<(), serde_json::Error> {
//! let job: Job = serde_json::from_str(payload)?;
//! job.ctx.scope(async move { /* #[observed] calls here continue the request */ }).await;
//! # Ok(()) }
//! ```
//!
//! Decisions:
//! - A payload comes from a queue, which is an input like any other: [`JobContext::into_context`]
//!   applies the same rules as the HTTP layer. A correlation id that is not a valid request id
//!   (see [`is_valid_request_id`]) is replaced by a fresh one; a malformed `traceparent` is
//!   dropped. Nothing panics on bad input.
//! - Absent fields are omitted on the wire (`skip_serializing_if`) and default to `None`, so the
//!   carrier can grow fields without breaking queued jobs.

use crate::context::{self, Context, Id, WithContext};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;

/// Longest accepted request id.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// True when `s` is acceptable as a request / correlation id: 1 to 128 characters from
/// `[A-Za-z0-9._:-]` (so every UUID, nginx's 32-hex `$request_id`, W3C trace ids, ULIDs and
/// most vendor ids) and not made only of zeros and separators.
///
/// Decision: the nil UUID and the all-zero trace id are refused. W3C declares the all-zero
/// trace id invalid, and a constant id shared by every misconfigured client would correlate
/// unrelated requests, which is worse than a fresh id.
pub fn is_valid_request_id(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > MAX_REQUEST_ID_LEN {
        return false;
    }
    let mut nonzero = false;
    for &c in b {
        match c {
            b'0' | b'.' | b'_' | b':' | b'-' => {}
            b'A'..=b'Z' | b'a'..=b'z' | b'1'..=b'9' => nonzero = true,
            _ => return false,
        }
    }
    nonzero
}

/// A parsed W3C `traceparent` (version `00`): `00-<32 hex trace id>-<16 hex parent id>-<2 hex
/// flags>`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceParent {
    /// The trace id (never all zeros).
    pub trace_id: u128,
    /// The parent span id (never zero).
    pub parent_id: u64,
    /// Trace flags (bit 0: sampled).
    pub flags: u8,
}

impl fmt::Debug for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceParent({self})")
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{:032x}-{:016x}-{:02x}",
            self.trace_id, self.parent_id, self.flags
        )
    }
}

use crate::encode::hex::parse_lower_u128 as hex_u128;

impl TraceParent {
    /// Parses a `traceparent` header value. Accepts version `00` exactly, and future versions by
    /// their first four fields (as the spec asks); refuses uppercase hex, all-zero ids, version
    /// `ff` and anything malformed. Never panics.
    ///
    /// This is the only `traceparent` parser of the crate: the HTTP layer, job carriers, the
    /// OTLP remote parent and audit records all go through it.
    pub fn parse(s: &str) -> Option<TraceParent> {
        // Optional white space around the value (RFC 9110 OWS: spaces and tabs only).
        let s = s.trim_matches([' ', '\t']);
        if s.len() < 55 || !s.is_ascii() {
            return None;
        }
        let (version, rest) = (&s[..2], &s[2..]);
        let v = hex_u128(version)?;
        if v == 0xff || (v == 0 && s.len() != 55) || (v != 0 && s.len() > 55 && &s[55..56] != "-") {
            return None;
        }
        let b = rest.as_bytes();
        if b[0] != b'-' || b[33] != b'-' || b[50] != b'-' {
            return None;
        }
        let trace_id = hex_u128(&rest[1..33])?;
        let parent_id = hex_u128(&rest[34..50])? as u64;
        let flags = hex_u128(&rest[51..53])? as u8;
        if trace_id == 0 || parent_id == 0 {
            return None;
        }
        Some(TraceParent {
            trace_id,
            parent_id,
            flags,
        })
    }

    /// Whether the sampled flag (bit 0 of the flags) is set.
    pub fn sampled(&self) -> bool {
        self.flags & 1 == 1
    }

    /// The same trace context with the sampled flag set to `yes`.
    pub fn with_sampled(self, yes: bool) -> TraceParent {
        TraceParent {
            flags: (self.flags & !1) | u8::from(yes),
            ..self
        }
    }

    /// A new trace (random ids, sampled).
    pub fn generate() -> TraceParent {
        TraceParent {
            trace_id: crate::encode::rand::u128().max(1),
            parent_id: (crate::encode::rand::u128() as u64).max(1),
            flags: 1,
        }
    }

    /// The same trace with a fresh parent (span) id: what to send on an outbound call.
    pub fn child(&self) -> TraceParent {
        TraceParent {
            parent_id: (crate::encode::rand::u128() as u64).max(1),
            ..*self
        }
    }

    /// The trace to continue from `ctx`: its `traceparent` if valid; else a new trace whose id is
    /// the correlation id when that is 32 lowercase hex (so logs and traces share one id); else a
    /// random one.
    pub fn for_context(ctx: &Context) -> TraceParent {
        if let Some(tp) = ctx.traceparent().and_then(TraceParent::parse) {
            return tp;
        }
        let mut tp = TraceParent::generate();
        if let Some(id) = ctx.correlation_id().filter(|c| c.len() == 32)
            && let Some(t) = hex_u128(id).filter(|t| *t != 0)
        {
            tp.trace_id = t;
        }
        tp
    }

    /// The trace id as 32 lowercase hex characters.
    pub fn trace_id_hex(&self) -> String {
        format!("{:032x}", self.trace_id)
    }
}

/// The context of a request, in a form that goes into a job payload.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobContext {
    /// The request's correlation id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// The tenant bound when the job was enqueued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// The user bound when the job was enqueued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The W3C `traceparent` the request continued, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// The named values bound when the job was enqueued ([`context::bind_field`]), as a JSON
    /// object. On the way in they go through the same rules as [`context::bind_field`] (count,
    /// size, names; sensitive names masked): what breaks them is left out and counted.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
}

impl JobContext {
    /// The carrier of the running code's context (generating its owed correlation id, so the
    /// job and the request share it).
    pub fn current() -> JobContext {
        context::with_current(JobContext::from_context)
    }

    /// The carrier of `ctx`.
    pub fn from_context(ctx: &Context) -> JobContext {
        JobContext {
            correlation_id: ctx.correlation_id().map(str::to_owned),
            tenant_id: ctx.tenant_id().map(str::to_owned),
            user_id: ctx.user_id().map(str::to_owned),
            traceparent: ctx.traceparent().map(str::to_owned),
            fields: ctx
                .fields()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        }
    }

    /// The context to run the job in. An invalid or missing correlation id becomes a fresh one;
    /// an invalid `traceparent` is dropped.
    pub fn into_context(self) -> Context {
        let corr = match self.correlation_id {
            Some(c) if is_valid_request_id(&c) => Id::new(&c),
            _ => Id::generate(),
        };
        let mut ctx = Context::new().with_correlation_id(corr);
        if let Some(t) = self.tenant_id {
            ctx = ctx.with_tenant_id(t);
        }
        if let Some(u) = self.user_id {
            ctx = ctx.with_user_id(u);
        }
        if let Some(tp) = self.traceparent.as_deref().and_then(TraceParent::parse) {
            ctx = ctx.with_traceparent(Id::from_display(&tp));
        }
        for (k, v) in &self.fields {
            ctx = ctx.with_field(k, v);
        }
        ctx
    }

    /// Runs `fut` in this carrier's context (see [`JobContext::into_context`]).
    pub fn scope<F: Future>(self, fut: F) -> WithContext<F> {
        self.into_context().wrap(fut)
    }

    /// Runs `f` synchronously in this carrier's context.
    pub fn scope_sync<R>(self, f: impl FnOnce() -> R) -> R {
        self.into_context().scope(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids() {
        for ok in [
            "3f2a9c1e-7b4d-4e2a-9c1e-7b4d4e2a9c1e",
            "0af7651916cd43dd8448eb211c80319c",
            "req_01HZX:abc.def-1",
            &"a".repeat(128),
        ] {
            assert!(is_valid_request_id(ok), "{ok}");
        }
        for bad in [
            "",
            "00000000-0000-0000-0000-000000000000",
            "a b",
            "a\r\nb",
            "\u{1b}[31m",
            "é",
            &"a".repeat(129),
        ] {
            assert!(!is_valid_request_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn traceparent_round_trip() {
        let s = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let tp = TraceParent::parse(s).unwrap();
        assert_eq!(tp.to_string(), s);
        assert_eq!(tp.child().trace_id, tp.trace_id);
        for bad in [
            "",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-xx",
            "00-0af7651916cd43dd8448eb211c80319cXb7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333é-01",
        ] {
            assert!(TraceParent::parse(bad).is_none(), "{bad}");
        }
        assert!(
            TraceParent::parse("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra")
                .is_some()
        );
    }

    #[test]
    fn job_context_round_trip() {
        let ctx = Context::new()
            .with_correlation_id("req-1")
            .with_tenant_id("acme")
            .with_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
        let job = JobContext::from_context(&ctx);
        let text = serde_json::to_string(&job).unwrap();
        assert!(!text.contains("user_id"));
        let back: JobContext = serde_json::from_str(&text).unwrap();
        let c = back.into_context();
        assert_eq!(c.correlation_id(), Some("req-1"));
        assert_eq!(c.tenant_id(), Some("acme"));
        assert_eq!(c.user_id(), None);
        assert_eq!(c.traceparent(), ctx.traceparent());
        let bad: JobContext =
            serde_json::from_str(r#"{"correlation_id":"a\r\nb","traceparent":"x"}"#).unwrap();
        let c = bad.into_context();
        assert_eq!(c.correlation_id().map(str::len), Some(32));
        assert_eq!(c.traceparent(), None);
    }
}
