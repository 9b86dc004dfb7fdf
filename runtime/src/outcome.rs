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
