//! The log pipeline: one JSON (or console) line per event.

pub mod json;
