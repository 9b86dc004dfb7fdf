//! Own spans go to the pipeline of the `init` or `layer` that installed observa, not to the
//! provider of one that failed: here `init` builds its OTLP provider and then cannot install
//! its subscriber (another global one is set), so that provider is dropped and shut down; a
//! later `layer` in the user's own registry is what runs, and its calls' spans must reach the
//! collector (a real local one, decoded with the official definitions). When the pipeline was
//! taken by the provider being built, not by the installed one, they went to the shut-down
//! processor and were lost.

use observa::observed;
use tracing_subscriber::layer::SubscriberExt;

mod otlp_support;
use otlp_support::by_name;

#[observed(event = "claim.call")]
fn call(i: u64) -> u64 {
    i + 1
}

#[test]
fn own_spans_go_to_the_installed_pipeline() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (addr, bodies) = otlp_support::collector(&rt);
    let config = |name: &str| {
        let mut cfg = observa::Config::new(name).with_writer(observa::MemoryWriter::new());
        cfg.otlp_endpoint = Some(format!("http://{addr}"));
        cfg
    };
    tracing::subscriber::set_global_default(tracing_subscriber::registry()).unwrap();
    assert!(matches!(
        observa::init(config("claim-init")),
        Err(observa::InitError::SubscriberAlreadySet)
    ));

    let (layer, guard) = observa::layer(config("claim-layer")).expect("layer");
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..5 {
            assert_eq!(call(i), i + 1);
        }
    });
    drop(guard);

    let spans = otlp_support::spans(&bodies);
    assert_eq!(by_name(&spans, "claim.call").len(), 5);
}
