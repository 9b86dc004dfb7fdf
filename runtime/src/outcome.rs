//! Outcomes of an observed call and how an error type classifies itself.

use std::error::Error as StdError;
use std::fmt;

/// How an observed call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Returned normally (`Ok` for a `Result`).
    Ok,
    /// Returned an error of the client class (validation, not found, forbidden: the 4xx class).
    ClientError,
    /// Returned an error of the server class (the 5xx class; the default for errors).
    ServerError,
    /// Panicked. The panic is resumed unchanged after it is recorded.
    Panic,
    /// An async call whose future was dropped before it completed.
    Cancelled,
}

impl Outcome {
    /// Every outcome, in label order.
    pub const ALL: [Outcome; 5] = [
        Outcome::Ok,
        Outcome::ClientError,
        Outcome::ServerError,
        Outcome::Panic,
        Outcome::Cancelled,
    ];

    /// The label value: `ok`, `client_error`, `server_error`, `panic`, `cancelled`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::ClientError => "client_error",
            Outcome::ServerError => "server_error",
            Outcome::Panic => "panic",
            Outcome::Cancelled => "cancelled",
        }
    }

    pub(crate) const fn index(self) -> usize {
        self as usize
    }

    /// True for every outcome but [`Outcome::Ok`].
    pub const fn is_failure(self) -> bool {
        !matches!(self, Outcome::Ok)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The class of an error: whose fault it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// The caller's fault (4xx): logged at INFO without alarm.
    Client,
    /// Ours (5xx): logged at ERROR with the error chain.
    Server,
}

impl ErrorClass {
    pub(crate) const fn outcome(self) -> Outcome {
        match self {
            ErrorClass::Client => Outcome::ClientError,
            ErrorClass::Server => Outcome::ServerError,
        }
    }
}

/// Lets an error type say whether it is a client or a server error.
///
/// Errors whose type does not implement it are server errors. `#[observed(err(client))]`
/// overrides the class for one function. For enums, derive it: `#[derive(observa::Classify)]`
/// with `#[classify(client)]` on client-error variants (unmarked variants take the container's
/// `#[classify(...)]`, server by default); `error_type` is then the variant name.
///
/// ```
/// enum ApiError { NotFound, Db(String) }
/// impl observa::Classify for ApiError {
///     fn error_class(&self) -> observa::ErrorClass {
///         match self {
///             ApiError::NotFound => observa::ErrorClass::Client,
///             ApiError::Db(_) => observa::ErrorClass::Server,
///         }
///     }
/// }
/// ```
///
/// The derive (`observa::Classify`, from the macro crate):
///
/// ```
/// use observa::{Classify, ErrorClass};
///
/// #[derive(Classify)]
/// #[classify(server)]            // default for unmarked variants (the default default)
/// enum ApiError {
///     #[classify(client)] NotFound(u64),
///     #[classify(client)] Invalid { field: &'static str },
///     Database(std::io::Error),
/// }
///
/// assert_eq!(ApiError::NotFound(7).error_class(), ErrorClass::Client);
/// assert_eq!(ApiError::Invalid { field: "email" }.error_type(), "Invalid");
/// assert_eq!(ApiError::Database(std::io::Error::other("reset")).error_class(), ErrorClass::Server);
/// ```
pub trait Classify {
    /// Client or server.
    fn error_class(&self) -> ErrorClass;

    /// The stable `error_type` label; defaults to the type's name without its path.
    fn error_type(&self) -> &'static str {
        short_type_name(std::any::type_name::<Self>())
    }
}

impl Classify for std::io::Error {
    fn error_class(&self) -> ErrorClass {
        ErrorClass::Server
    }
}

pub(crate) use crate::encode::text::short_type_name;

/// How a failed call's error is rendered.
#[allow(missing_debug_implementations)]
#[derive(Clone, Copy)]
pub enum ErrorView<'a> {
    /// A `std::error::Error`: rendered with its source chain (`a: b: c`).
    Error(&'a (dyn StdError + 'a)),
    /// Rendered with `Display`.
    Display(&'a (dyn fmt::Display + 'a)),
    /// Rendered with `Debug`.
    Debug(&'a (dyn fmt::Debug + 'a)),
    /// A literal message (panics, cancellations).
    Message(&'static str),
}

impl fmt::Display for ErrorView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ErrorView::Error(e) => {
                write!(f, "{e}")?;
                let mut src = e.source();
                let mut depth = 0;
                while let Some(s) = src {
                    if depth == 16 {
                        return f.write_str(": …");
                    }
                    write!(f, ": {s}")?;
                    src = s.source();
                    depth += 1;
                }
                Ok(())
            }
            ErrorView::Display(d) => write!(f, "{d}"),
            ErrorView::Debug(d) => write!(f, "{d:?}"),
            ErrorView::Message(m) => f.write_str(m),
        }
    }
}

/// What a finished call reports: its outcome and, on failure, the error.
#[derive(Clone, Copy)]
pub struct Finish<'a> {
    pub(crate) outcome: Outcome,
    pub(crate) error: Option<ErrorView<'a>>,
    pub(crate) error_type: &'static str,
}

impl fmt::Debug for Finish<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Finish")
            .field("outcome", &self.outcome)
            .field("error_type", &self.error_type)
            .finish_non_exhaustive()
    }
}

impl<'a> Finish<'a> {
    /// A successful finish.
    pub const OK: Finish<'static> = Finish {
        outcome: Outcome::Ok,
        error: None,
        error_type: "",
    };

    /// A failure of `class` with `error`.
    pub fn error(class: ErrorClass, error: ErrorView<'a>, error_type: &'static str) -> Finish<'a> {
        Finish {
            outcome: class.outcome(),
            error: Some(error),
            error_type,
        }
    }

    /// The outcome.
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// Overrides the error class (the attribute's `err(client)` / `err(server)`).
    #[doc(hidden)]
    pub fn with_class(mut self, class: Option<ErrorClass>) -> Finish<'a> {
        if let (Some(c), true) = (class, self.error.is_some()) {
            self.outcome = c.outcome();
        }
        self
    }
}

/// The autoref-specialisation probe generated code uses to classify a return value of any type
/// without requiring a trait bound: the most specific applicable impl wins.
pub mod probe {
    use super::*;

    /// Wraps a reference to the return value.
    #[allow(missing_debug_implementations)]
    pub struct Probe<'a, T: ?Sized>(pub &'a T);

    macro_rules! level {
        ($trait:ident, $refs:ty, [$($bounds:tt)*], |$r:ident| $body:expr) => {
            #[doc(hidden)]
            pub trait $trait<'a> {
                fn __observa_finish(&self) -> Finish<'a>;
            }
            impl<'a, T, E: 'a + $($bounds)*> $trait<'a> for $refs {
                #[inline]
                fn __observa_finish(&self) -> Finish<'a> {
                    let $r: &'a Result<T, E> = self_ref(self);
                    $body
                }
            }
        };
    }

    #[doc(hidden)]
    pub trait Peel<'a, T: ?Sized> {
        fn peel(&self) -> &'a T;
    }

    impl<'a, T: ?Sized> Peel<'a, T> for Probe<'a, T> {
        #[inline]
        fn peel(&self) -> &'a T {
            self.0
        }
    }
    impl<'a, T: ?Sized, P: Peel<'a, T>> Peel<'a, T> for &P {
        #[inline]
        fn peel(&self) -> &'a T {
            (**self).peel()
        }
    }

    #[inline]
    fn self_ref<'a, T: ?Sized, P: Peel<'a, T>>(p: &P) -> &'a T {
        p.peel()
    }

    fn err_of<T, E>(r: &Result<T, E>) -> Option<&E> {
        r.as_ref().err()
    }

    level!(
        ViaClassifyError,
        &&&&&&Probe<'a, Result<T, E>>,
        [Classify + StdError],
        |r| match err_of(r) {
            None => Finish::OK,
            Some(e) => Finish::error(e.error_class(), ErrorView::Error(e), e.error_type()),
        }
    );
    level!(
        ViaClassifyDisplay,
        &&&&&Probe<'a, Result<T, E>>,
        [Classify + fmt::Display],
        |r| match err_of(r) {
            None => Finish::OK,
            Some(e) => Finish::error(e.error_class(), ErrorView::Display(e), e.error_type()),
        }
    );
    level!(
        ViaError,
        &&&&Probe<'a, Result<T, E>>,
        [StdError],
        |r| match err_of(r) {
            None => Finish::OK,
            Some(e) => Finish::error(
                ErrorClass::Server,
                ErrorView::Error(e),
                short_type_name(std::any::type_name::<E>())
            ),
        }
    );
    level!(
        ViaDisplay,
        &&&Probe<'a, Result<T, E>>,
        [fmt::Display],
        |r| match err_of(r) {
            None => Finish::OK,
            Some(e) => Finish::error(
                ErrorClass::Server,
                ErrorView::Display(e),
                short_type_name(std::any::type_name::<E>())
            ),
        }
    );
    level!(
        ViaDebug,
        &&Probe<'a, Result<T, E>>,
        [fmt::Debug],
        |r| match err_of(r) {
            None => Finish::OK,
            Some(e) => Finish::error(
                ErrorClass::Server,
                ErrorView::Debug(e),
                short_type_name(std::any::type_name::<E>())
            ),
        }
    );
    level!(
        ViaResult,
        &Probe<'a, Result<T, E>>,
        [Sized],
        |r| match err_of(r) {
            None => Finish::OK,
            Some(_) => Finish::error(
                ErrorClass::Server,
                ErrorView::Message("error"),
                short_type_name(std::any::type_name::<E>())
            ),
        }
    );

    /// Anything that is not a `Result`: always `ok`.
    #[doc(hidden)]
    pub trait ViaAny<'a> {
        fn __observa_finish(&self) -> Finish<'a>;
    }
    impl<'a, T: ?Sized> ViaAny<'a> for Probe<'a, T> {
        #[inline]
        fn __observa_finish(&self) -> Finish<'a> {
            Finish::OK
        }
    }

    /// `err(Debug)`: render the error of a `Result` with `Debug`.
    #[inline]
    pub fn debug_error<'a, T, E: fmt::Debug>(r: &'a Result<T, E>, f: Finish<'a>) -> Finish<'a> {
        match (r, f.error) {
            (Err(e), Some(_)) => Finish {
                error: Some(ErrorView::Debug(e)),
                ..f
            },
            _ => f,
        }
    }
}

#[cfg(test)]
// The autoref probe needs exactly these borrows: that is how it picks the impl.
#[allow(clippy::needless_borrow)]
mod tests {
    use super::probe::*;
    use super::*;

    #[derive(Debug)]
    struct NotFound;
    impl fmt::Display for NotFound {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("not found")
        }
    }
    impl StdError for NotFound {}
    impl Classify for NotFound {
        fn error_class(&self) -> ErrorClass {
            ErrorClass::Client
        }
    }

    #[derive(Debug)]
    struct Outer(std::io::Error);
    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("outer")
        }
    }
    impl StdError for Outer {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.0)
        }
    }

    #[derive(Debug)]
    struct ClassifiedOuter(Outer);
    impl fmt::Display for ClassifiedOuter {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("classified")
        }
    }
    impl StdError for ClassifiedOuter {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.0)
        }
    }
    impl Classify for ClassifiedOuter {
        fn error_class(&self) -> ErrorClass {
            ErrorClass::Server
        }
    }

    #[allow(unused_imports)]
    fn classify<T>(r: &T) -> (Outcome, String) {
        let f = (&&&&&&&Probe(r)).__observa_finish();
        (
            f.outcome,
            f.error.map(|e| e.to_string()).unwrap_or_default(),
        )
    }

    #[test]
    fn probe_picks_most_specific() {
        let r: Result<(), NotFound> = Err(NotFound);
        let f = (&&&&&&&Probe(&r)).__observa_finish();
        assert_eq!(f.outcome, Outcome::ClientError);
        assert_eq!(f.error_type, "NotFound");

        let r: Result<(), ClassifiedOuter> =
            Err(ClassifiedOuter(Outer(std::io::Error::other("disk"))));
        let f = (&&&&&&&Probe(&r)).__observa_finish();
        assert_eq!(
            f.error.unwrap().to_string(),
            "classified: outer: disk",
            "Classify + Error keeps the chain"
        );

        let r: Result<(), Outer> = Err(Outer(std::io::Error::other("disk")));
        let f = (&&&&&&&Probe(&r)).__observa_finish();
        assert_eq!(f.outcome, Outcome::ServerError);
        assert_eq!(f.error.unwrap().to_string(), "outer: disk");

        let r: Result<u8, String> = Err("plain".into());
        let f = (&&&&&&&Probe(&r)).__observa_finish();
        assert_eq!(f.outcome, Outcome::ServerError);
        assert_eq!(f.error.unwrap().to_string(), "plain");

        struct Opaque;
        let r: Result<u8, Opaque> = Err(Opaque);
        let f = (&&&&&&&Probe(&r)).__observa_finish();
        assert_eq!(f.outcome, Outcome::ServerError);

        let v = 5u32;
        let f = (&&&&&&&Probe(&v)).__observa_finish();
        assert_eq!(f.outcome, Outcome::Ok);
        let _ = classify(&v);
    }
}
