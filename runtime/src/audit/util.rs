//! The audit store's names for the crate's one set of encoders ([`crate::encode`]): RFC 3339
//! times, record ids, hex and the bounded text of stored fields.

pub(crate) use crate::encode::hex::{hex, is_hash_hex, unhex};
pub(crate) use crate::encode::rand::uuid_v7;
pub(crate) use crate::encode::text::bound_owned as bound;
pub(crate) use crate::encode::time::rfc3339_micros;
