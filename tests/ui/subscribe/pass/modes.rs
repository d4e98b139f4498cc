use std::sync::atomic::{AtomicUsize, Ordering};

use eventbus::prelude::*;
use eventbus::{HandlerKind, Mode};

#[derive(Event, serde::Serialize, serde::Deserialize)]
struct Resized {
    width: u32,
}

struct Limits {
    max_width: u32,
}

static RAN: AtomicUsize = AtomicUsize::new(0);

fn ran(resized: &Resized, limits: &Limits) {
    assert!(resized.width <= limits.max_width);
    RAN.fetch_add(1, Ordering::SeqCst);
}

#[subscribe(mode = "inline")]
fn sync_inline(resized: &Resized, limits: State<Limits>) {
    ran(resized, &limits);
}

#[subscribe(mode = "inline")]
async fn async_inline(resized: &Resized, limits: State<Limits>) {
    tokio::task::yield_now().await;
    ran(resized, &limits);
}

#[subscribe(mode = "background")]
fn sync_background(resized: &Resized, ctx: &Context, limits: State<Limits>) {
    assert_eq!(ctx.depth(), 0);
    ran(resized, &limits);
}

#[subscribe(mode = "background")]
async fn async_background(
    resized: &Resized,
    limits: State<Limits>,
    ctx: &Context,
) -> Result<(), String> {
    tokio::task::yield_now().await;
    assert_eq!(ctx.depth(), 0);
    ran(resized, &limits);
    Ok(())
}

#[subscribe(mode = "blocking")]
fn sync_blocking(resized: &Resized, limits: State<Limits>) -> Result<(), std::io::Error> {
    ran(resized, &limits);
    Ok(())
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let bus = Bus::builder()
        .state(Limits { max_width: 4096 })
        .build()
        .unwrap();

    let modes: Vec<(&str, HandlerKind, Mode)> = bus
        .handlers()
        .iter()
        .map(|h| {
            let name = h.handler_name().strip_prefix(concat!(module_path!(), "::"));
            (name.unwrap(), h.kind(), h.mode())
        })
        .collect();
    assert_eq!(
        modes,
        [
            ("sync_inline", HandlerKind::Sync, Mode::Inline),
            ("async_inline", HandlerKind::Async, Mode::Inline),
            ("sync_background", HandlerKind::Sync, Mode::Background),
            ("async_background", HandlerKind::Async, Mode::Background),
            ("sync_blocking", HandlerKind::Sync, Mode::Blocking),
        ]
    );

    runtime.block_on(async {
        // Inline and blocking handlers are awaited; background ones are
        // spawned and not awaited.
        let report = bus.publish_async(Resized { width: 800 }).await;
        assert_eq!(report.handled(), 3);
        assert_eq!(report.scheduled(), 2);
        assert!(report.is_ok(), "{:?}", report.failures());
        bus.idle().await;
        assert_eq!(RAN.load(Ordering::SeqCst), 5);

        // `publish` runs only plain inline handlers itself and spawns the
        // rest.
        let report = bus.publish(Resized { width: 1024 });
        assert_eq!(report.handled(), 1);
        assert_eq!(report.scheduled(), 4);
        assert!(report.is_ok(), "{:?}", report.failures());
        bus.idle().await;
        assert_eq!(RAN.load(Ordering::SeqCst), 10);
    });
}
