//! `Config::from_env` and `init` errors: clear, named, and nothing half-installed.

#[test]
fn bad_variables_are_errors_and_leave_nothing_installed() {
    // SAFETY: this test binary has one test; nothing else reads the environment concurrently.
    unsafe { std::env::set_var("OBSERVA_LOG_FORMAT", "yaml") };
    let e = observa::Config::from_env().unwrap_err();
    assert_eq!(e.var, "OBSERVA_LOG_FORMAT");
    assert!(e.to_string().contains("`json` or `console`"), "{e}");
    let e = observa::init_from_env().unwrap_err();
    assert!(matches!(e, observa::InitError::Config(_)), "{e}");
    unsafe { std::env::remove_var("OBSERVA_LOG_FORMAT") };

    // A bad filter in code is an error too, and does not consume the one-time init.
    let e = observa::init(observa::Config::default().with_log_level("info,=[")).unwrap_err();
    assert!(matches!(e, observa::InitError::Config(_)), "{e}");

    // Another global subscriber: a clear error, and observa is not half-installed.
    let other = tracing::subscriber::NoSubscriber::default();
    tracing::subscriber::set_global_default(other).unwrap();
    let e = observa::init(observa::Config::default().with_writer(std::io::sink())).unwrap_err();
    assert!(matches!(e, observa::InitError::SubscriberAlreadySet), "{e}");
    assert!(observa::runtime_info().is_none());
}
