//! Encoding, in one place: every byte observa writes to a sink goes through here.
//!
//! - [`json`]: the allocation-free JSON writer (escaping, bounding, values) of every sink;
//! - [`neutralise`]: which characters never reach a sink raw, and their JSON / console escapes;
//! - [`time`]: RFC 3339 UTC timestamps with microseconds;
//! - [`hex`]: lowercase hex encoding and decoding;
//! - [`text`]: the one truncation marker and cut, short type names for `error_type`;
//! - [`rand`]: the fast thread-local random source for ids and sampling, and UUIDv7 record ids.
//!
//! Nothing here knows about logs, metrics or audit records; those modules depend on this one
//! and never the other way round. The W3C `traceparent` parser is [`crate::carrier::TraceParent`]
//! (it is part of the carrier's contract), built on [`hex::parse_lower_u128`].

pub(crate) mod hex;
pub mod json;
pub mod neutralise;
pub(crate) mod rand;
pub(crate) mod text;
pub(crate) mod time;
