//! The read side of both stores, behind one trait: what the verifier sees of a trail. The one
//! place that opens a reader for a store URL is [`super::read()`].

use crate::audit::error::AuditError;
pub(crate) use crate::audit::record::RawCell;

/// One record row as read back, before any interpretation: the values of
/// [`COLUMNS`](crate::audit::record::COLUMNS), in order.
#[derive(Debug)]
pub(crate) struct RawRow(pub [RawCell; 28]);

impl RawRow {
    /// The integer in column `i` (0 when it is not one: readers only produce integers there).
    pub(crate) fn int(&self, i: usize) -> i64 {
        match self.0[i] {
            RawCell::Int(v) => v,
            RawCell::Text(_) => 0,
        }
    }
}

/// One checkpoint row as read back.
#[derive(Debug, Clone)]
pub(crate) struct RawCheckpoint {
    pub count: i64,
    pub trail: String,
    pub head_hash: String,
    pub created_at: String,
    pub public_key: Option<String>,
    pub signature: Option<String>,
}

/// A row that could not be read (wrong column type, invalid UTF-8).
#[derive(Debug)]
pub(crate) struct RowError {
    pub seq: Option<i64>,
    pub detail: String,
}

/// Read access to one trail, as one consistent snapshot.
pub(crate) trait TrailReader {
    fn checkpoints(&mut self) -> Result<Vec<Result<RawCheckpoint, RowError>>, AuditError>;
    /// Calls `f` for every record ordered by `seq`; stops when `f` returns `false`.
    fn scan(
        &mut self,
        f: &mut dyn FnMut(Result<RawRow, RowError>) -> bool,
    ) -> Result<(), AuditError>;
}
