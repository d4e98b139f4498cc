//! The API that works without tokio: `publish`, `publish_async` on any
//! executor, run-time subscriptions, and a clear failure for what needs a
//! runtime.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll, Wake, Waker};
use std::thread::{self, Thread};

use eventbus::prelude::*;
use eventbus::FailureKind;
use eventbus_no_tokio::{Ordered, CONFIRMED, ITEMS};

/// The whole API is tested from one test, so the static counters are
/// read by one test only.
#[test]
fn the_sync_api_works_and_async_handlers_need_publish_async() {
    let bus = Bus::new();

    // `publish` runs the sync handler; the async one cannot start without
    // a runtime and is reported, never a panic.
    let report = bus.publish(Ordered { items: 3 });
    assert_eq!(ITEMS.load(Ordering::SeqCst), 3);
    assert_eq!(report.handled(), 2);
    assert_eq!(report.failures().len(), 1);
    let failure = &report.failures()[0];
    assert_eq!(failure.kind(), FailureKind::NoRuntime);
    assert!(failure.handler().is_none());
    assert!(
        failure.message().contains("eventbus_no_tokio::confirm"),
        "{}",
        failure.message()
    );
    assert_eq!(CONFIRMED.load(Ordering::SeqCst), 0);

    // `publish_async` awaits it on any executor.
    let report = block_on(bus.publish_async(Ordered { items: 4 }));
    assert!(report.is_ok(), "{:?}", report.failures());
    assert_eq!(report.handled(), 2);
    assert_eq!(ITEMS.load(Ordering::SeqCst), 7);
    assert_eq!(CONFIRMED.load(Ordering::SeqCst), 1);

    // Run-time subscriptions, sync and async, named.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sync_seen = Arc::clone(&seen);
    let sync = bus.subscribe_named("tally", move |order: &Ordered| {
        sync_seen
            .lock()
            .unwrap()
            .push(format!("tally {}", order.items));
    });
    let async_seen = Arc::clone(&seen);
    let async_sub = bus.subscribe_async(move |order: Arc<Ordered>| {
        let seen = Arc::clone(&async_seen);
        async move {
            seen.lock().unwrap().push(format!("async {}", order.items));
        }
    });
    let report = block_on(bus.publish_async(Ordered { items: 5 }));
    assert_eq!(report.handled(), 4);
    assert_eq!(*seen.lock().unwrap(), ["tally 5", "async 5"]);
    assert!(bus
        .handlers()
        .iter()
        .any(|info| info.handler_name() == "tally"));

    // Dropped outside a runtime: never called again.
    drop(sync);
    block_on(async_sub.unsubscribe());
    let report = block_on(bus.publish_async(Ordered { items: 6 }));
    assert_eq!(report.handled(), 2);
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[test]
fn publish_json_works_without_tokio() {
    let bus = Bus::builder()
        .filter_handlers(|info| info.handler_name().ends_with("::count_items"))
        .build()
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let _sub = bus.subscribe(move |_: &Ordered| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let report = bus.publish_json("Ordered", r#"{"items":0}"#).unwrap();
    assert_eq!(report.handled(), 2);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// Runs a future to completion on this thread, parking between polls.
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = TaskContext::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        thread::park();
    }
}
