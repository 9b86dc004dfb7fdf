//! `__site!`: the one `macro_rules!` every `#[observed]` expansion calls. It declares the single
//! `static` of a call site ([`crate::__private::Site`]: plain data, cheap to const-evaluate;
//! the `tracing` callsites of the span and of the completion events are created from it on the
//! site's first use), so the proc macro stays thin and each instrumented function adds one item
//! to the crate. The site also registers itself
//! (`inventory`: a constructor run before `main`), so the runtime knows every site, event and
//! objective before the first call ([`crate::slo::sites`]).

/// Declares the static of one call site and evaluates to `&'static Site`.
#[doc(hidden)]
#[macro_export]
macro_rules! __site {
    (
        name: $name:literal,
        event: $event:literal,
        target: $target:expr,
        level: $level:ident,
        fields: [$($field:literal),* $(,)?],
        opts: { $($opt:tt)* }
    ) => {{
        static SITE: $crate::__private::Site = $crate::__private::Site::new(
            $crate::__private::SiteInfo {
                name: $name,
                event: $event,
                target: $target,
                file: ::core::file!(),
                line: ::core::line!(),
                module: ::core::module_path!(),
                // The order `crate::completion` defines: `SPAN_HEAD` ids, the recorded fields,
                // `SPAN_TAIL` trailing fields.
                span_fields: &[
                    $crate::__private::SPAN_CORRELATION_ID,
                    $crate::__private::SPAN_TENANT_ID,
                    $crate::__private::SPAN_USER_ID,
                    $($field,)*
                    $crate::__private::SPAN_OUTCOME,
                    $crate::__private::SPAN_ERROR,
                    $crate::__private::SPAN_STATUS,
                ],
                fields: &[$($field),*],
                names: [
                    ::core::concat!($event, ".completed"),
                    ::core::concat!($event, ".failed"),
                    ::core::concat!($event, ".started"),
                ],
                opts: $crate::__private::Opts {
                    level: $crate::__private::Level::$level,
                    $($opt)*
                    ..$crate::__private::Opts::DEFAULT
                },
            },
        );
        $crate::__private::inventory::submit! {
            $crate::__private::Registered(&SITE)
        }
        &SITE
    }};
}
