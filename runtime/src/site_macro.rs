//! `__site!`: the one `macro_rules!` every `#[observed]` expansion calls. It owns the statics of
//! a call site (the `tracing` metadata of the span and of the five possible completion-event
//! levels, and the [`crate::__private::Site`]), so the proc macro stays thin.

/// Declares the statics of one call site and evaluates to `&'static Site`.
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
        use $crate::__private::tracing_core as __tc;
        static SPAN_CS: __tc::callsite::DefaultCallsite =
            __tc::callsite::DefaultCallsite::new(&SPAN_META);
        static SPAN_META: __tc::Metadata<'static> = __tc::Metadata::new(
            $name,
            $target,
            __tc::Level::$level,
            ::core::option::Option::Some(::core::file!()),
            ::core::option::Option::Some(::core::line!()),
            ::core::option::Option::Some(::core::module_path!()),
            __tc::field::FieldSet::new(
                &["correlation_id", "tenant_id", "user_id", $($field,)* "outcome", "error", "otel.status_code"],
                __tc::callsite::Identifier(&SPAN_CS),
            ),
            __tc::metadata::Kind::SPAN,
        );
        $crate::__site_events!(EVENTS, $target, $level);
        static SITE: $crate::__private::Site = $crate::__private::Site::new(
            &SPAN_CS,
            &EVENTS,
            $event,
            &[
                ::core::concat!($event, ".completed"),
                ::core::concat!($event, ".failed"),
                ::core::concat!($event, ".started"),
            ],
            &[$($field),*],
            $crate::__private::Opts { $($opt)* ..$crate::__private::Opts::DEFAULT },
        );
        &SITE
    }};
}

/// The completion-event callsites of a site, by level index (TRACE..ERROR), as `static $events`.
/// Only the levels a call can emit at exist: the site's own level, INFO (client errors), WARN
/// (cancelled) and ERROR (server errors, panics); the unused TRACE/DEBUG slots point at INFO.
/// Every callsite static costs build time, so a site declares 3 or 4, not 5.
#[doc(hidden)]
#[macro_export]
macro_rules! __site_events {
    ($events:ident, $target:expr, TRACE) => {
        $crate::__site_event!(EV_TRACE, EV_TRACE_META, TRACE, $target);
        $crate::__site_events!(@common $events, $target, EV_TRACE, EV_INFO);
    };
    ($events:ident, $target:expr, DEBUG) => {
        $crate::__site_event!(EV_DEBUG, EV_DEBUG_META, DEBUG, $target);
        $crate::__site_events!(@common $events, $target, EV_INFO, EV_DEBUG);
    };
    ($events:ident, $target:expr, $level:ident) => {
        $crate::__site_events!(@common $events, $target, EV_INFO, EV_INFO);
    };
    (@common $events:ident, $target:expr, $trace:ident, $debug:ident) => {
        $crate::__site_event!(EV_INFO, EV_INFO_META, INFO, $target);
        $crate::__site_event!(EV_WARN, EV_WARN_META, WARN, $target);
        $crate::__site_event!(EV_ERROR, EV_ERROR_META, ERROR, $target);
        static $events: [&'static __tc::callsite::DefaultCallsite; 5] =
            [&$trace, &$debug, &EV_INFO, &EV_WARN, &EV_ERROR];
    };
}

/// One completion-event callsite at one level.
#[doc(hidden)]
#[macro_export]
macro_rules! __site_event {
    ($cs:ident, $meta:ident, $level:ident, $target:expr) => {
        static $cs: __tc::callsite::DefaultCallsite = __tc::callsite::DefaultCallsite::new(&$meta);
        static $meta: __tc::Metadata<'static> = __tc::Metadata::new(
            $crate::__private::COMPLETION,
            $target,
            __tc::Level::$level,
            ::core::option::Option::Some(::core::file!()),
            ::core::option::Option::Some(::core::line!()),
            ::core::option::Option::Some(::core::module_path!()),
            __tc::field::FieldSet::new(
                $crate::__private::COMPLETION_FIELDS,
                __tc::callsite::Identifier(&$cs),
            ),
            __tc::metadata::Kind::EVENT,
        );
    };
}
