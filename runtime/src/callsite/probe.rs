//! The autoref-specialisation probe generated code uses to classify a return value of any type
//! without requiring a trait bound: the most specific applicable impl wins.

use crate::outcome::{Classify, ErrorClass, ErrorView, Finish, short_type_name};
use std::error::Error as StdError;
use std::fmt;

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
pub(super) trait Peel<'a, T: ?Sized> {
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

#[cfg(test)]
// The autoref probe needs exactly these borrows: that is how it picks the impl.
#[allow(clippy::needless_borrow)]
mod tests {
    use super::*;
    use crate::outcome::Outcome;

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
