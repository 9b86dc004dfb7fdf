//! The per-request toggle of the HTTP layer (seed 003: tracking for admins who ask).

use super::Meter;
use http::{HeaderMap, HeaderName};
use std::fmt;

/// A check the application supplies: may this request turn tracking on? It sees the request
/// headers (say, verifies an admin session or token) and must be cheap: it runs only for
/// requests that carry the toggle header.
pub type Allow = dyn Fn(&HeaderMap) -> bool + Send + Sync;

/// The header toggle: `header: 1|true|on|yes` turns tracking on for the request when `allow`
/// agrees.
pub(crate) struct Toggle {
    pub(crate) header: HeaderName,
    pub(crate) allow: Box<Allow>,
}

impl fmt::Debug for Toggle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Toggle")
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

/// The meter of a request: on when the policy picks it, or when it asks through the toggle
/// header and the application's check allows it. Excluded paths (`logged == false`) are never
/// measured.
pub(crate) fn meter_for(toggle: Option<&Toggle>, headers: &HeaderMap, logged: bool) -> Meter {
    if !logged {
        return Meter::OFF;
    }
    if super::picked() {
        return Meter::new(true);
    }
    let Some(t) = toggle else {
        return Meter::OFF;
    };
    let asks = headers
        .get(&t.header)
        .is_some_and(|v| super::header_asks(v.as_bytes()));
    // The check is user code: a panic in it leaves tracking off, never the request broken.
    let allowed = asks
        && std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (t.allow)(headers)))
            .unwrap_or(false);
    Meter::new(allowed)
}
