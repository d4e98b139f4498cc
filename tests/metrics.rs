//! `MetricsLayer`: calls, failures and latency per handler, read with
//! `bus.metrics()` (None without the layer) or the layer's own snapshot;
//! clones of the layer share their numbers.

use eventbus::layer::{MetricsLayer, MetricsSnapshot, RetryLayer, RetryPolicy, TracingLayer};
use eventbus::prelude::*;
use eventbus::BoxError;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

fn metered() -> Bus {
    Bus::builder().layer(MetricsLayer::new()).build().unwrap()
}

#[test]
fn a_bus_without_the_metrics_layer_has_no_metrics() {
    assert_eq!(Bus::new().metrics(), None);
    let traced = Bus::builder().layer(TracingLayer::new()).build().unwrap();
    assert_eq!(traced.metrics(), None);

    // With the layer and before any call: an empty snapshot.
    assert_eq!(metered().metrics(), Some(MetricsSnapshot::default()));
}

// --- calls, failures, latency ------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Measured {
    fail: bool,
}

#[subscribe]
fn measured(event: &Measured) -> Result<(), String> {
    if event.fail {
        return Err("measured failed".to_owned());
    }
    Ok(())
}

#[subscribe]
fn measured_steady(_: &Measured) {}

#[test]
fn calls_and_failures_are_counted_per_handler() {
    let bus = metered();

    for fail in [false, true, false, true, false] {
        let _ = bus.publish(Measured { fail });
    }

    let snapshot = bus.metrics().expect("the metrics layer is installed");
    let names: Vec<(&str, &str)> = snapshot
        .handlers
        .iter()
        .map(|metrics| (metrics.handler_name, metrics.event_name))
        .collect();
    assert_eq!(
        names,
        [
            ("metrics::measured", "Measured"),
            ("metrics::measured_steady", "Measured")
        ]
    );

    let measured = snapshot.handler("metrics::measured").unwrap();
    assert_eq!((measured.calls, measured.failures), (5, 2));
    assert_eq!(measured.buckets.iter().sum::<u64>(), 5);
    assert!(measured.max >= measured.mean(), "{measured:?}");
    assert!(measured.total >= measured.max, "{measured:?}");
    assert_eq!(measured.mean(), measured.total / 5);

    let steady = snapshot.handler("metrics::measured_steady").unwrap();
    assert_eq!((steady.calls, steady.failures), (5, 0));
    assert_eq!(steady.buckets.iter().sum::<u64>(), 5);

    assert_eq!(snapshot.handler("metrics::nobody"), None);
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Sluggish;

#[subscribe]
fn sluggish(_: &Sluggish) {
    std::thread::sleep(Duration::from_millis(2));
}

#[test]
fn a_slow_call_lands_in_a_bucket_above_its_latency() {
    let bus = metered();

    let _ = bus.publish(Sluggish);

    let sluggish = bus.metrics().unwrap().handler("metrics::sluggish").unwrap();
    assert_eq!((sluggish.calls, sluggish.failures), (1, 0));
    assert!(sluggish.max >= Duration::from_millis(2), "{sluggish:?}");
    assert_eq!(sluggish.max, sluggish.total);
    // At least 2 ms: none of the buckets up to 1 ms.
    assert_eq!(sluggish.buckets[..4], [0, 0, 0, 0], "{sluggish:?}");
    assert_eq!(sluggish.buckets.iter().sum::<u64>(), 1);
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct MeasuredAsync {
    fail: bool,
}

#[subscribe]
async fn measured_async(event: &MeasuredAsync) -> Result<(), String> {
    tokio::task::yield_now().await;
    if event.fail {
        return Err("measured async failed".to_owned());
    }
    Ok(())
}

#[tokio::test]
async fn async_calls_are_counted_awaited_or_spawned() {
    let bus = metered();

    for fail in [false, true, false] {
        let _ = bus.publish_async(MeasuredAsync { fail }).await;
    }
    let report = bus.publish(MeasuredAsync { fail: true });
    assert_eq!(report.scheduled(), 1);
    bus.idle().await;

    let measured = bus
        .metrics()
        .unwrap()
        .handler("metrics::measured_async")
        .unwrap();
    assert_eq!((measured.calls, measured.failures), (4, 2));
    assert_eq!(measured.buckets.iter().sum::<u64>(), 4);
    assert!(measured.max >= measured.mean(), "{measured:?}");
}

// --- sharing ----------------------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Tallied;

#[subscribe]
fn tallied(_: &Tallied) {}

#[test]
fn clones_of_the_layer_share_their_numbers() {
    let layer = MetricsLayer::new();
    let first = Bus::builder().layer(layer.clone()).build().unwrap();
    let second = Bus::builder().layer(layer.clone()).build().unwrap();

    for _ in 0..2 {
        let _ = first.publish(Tallied);
    }
    for _ in 0..3 {
        let _ = second.publish(Tallied);
    }

    let snapshot = layer.snapshot();
    assert_eq!(snapshot.handler("metrics::tallied").unwrap().calls, 5);
    assert_eq!(first.metrics().as_ref(), Some(&snapshot));
    assert_eq!(second.metrics().as_ref(), Some(&snapshot));
    // A clone of a bus shares its layer too.
    assert_eq!(first.clone().metrics(), Some(snapshot));
}

// --- with retries -----------------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Retried;

static RETRIED_CALLS: AtomicU32 = AtomicU32::new(0);

#[subscribe(retry = 2)]
fn retried(_: &Retried) -> Result<(), String> {
    RETRIED_CALLS.fetch_add(1, Ordering::SeqCst);
    Err("retried failed".to_owned())
}

#[test]
fn a_retried_call_counts_once_outside_the_retry_layer_and_per_attempt_inside() {
    // The bus adds its retry layer innermost: metrics sees one call.
    let outside = metered();
    let _ = outside.publish(Retried);

    assert_eq!(RETRIED_CALLS.swap(0, Ordering::SeqCst), 3);
    let retried = outside
        .metrics()
        .unwrap()
        .handler("metrics::retried")
        .unwrap();
    assert_eq!((retried.calls, retried.failures), (1, 1));

    // Inside a retry layer added by hand: every attempt.
    let inside = Bus::builder()
        .layer(RetryLayer::new(RetryPolicy::new(0)))
        .layer(MetricsLayer::new())
        .build()
        .unwrap();
    let _ = inside.publish(Retried);

    assert_eq!(RETRIED_CALLS.swap(0, Ordering::SeqCst), 3);
    let retried = inside
        .metrics()
        .unwrap()
        .handler("metrics::retried")
        .unwrap();
    assert_eq!((retried.calls, retried.failures), (3, 3));
}

// --- a layer that wraps the metrics layer ------------------------------------

/// Wraps another layer and forwards everything, as a user's sampling or
/// filtering layer would.
struct Wrapped<L>(L);

impl<L: Layer> Layer for Wrapped<L> {
    fn call(
        &self,
        call: &eventbus::layer::Call<'_>,
        next: eventbus::layer::Next<'_>,
    ) -> Result<(), BoxError> {
        self.0.call(call, next)
    }

    fn metrics(&self) -> Option<&MetricsLayer> {
        self.0.metrics()
    }
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Wrapped1;

#[subscribe]
fn count_wrapped(_: &Wrapped1) {}

#[test]
fn a_wrapped_metrics_layer_still_gives_the_bus_its_metrics() {
    let bus = Bus::builder()
        .layer(Wrapped(MetricsLayer::new()))
        .build()
        .unwrap();
    let _ = bus.publish(Wrapped1);
    let metrics = bus.metrics().expect("the wrapper forwards its metrics");
    let handler = metrics
        .handler("metrics::count_wrapped")
        .expect("the call was measured");
    assert_eq!(handler.calls, 1);
    assert_eq!(handler.failures, 0);
}
