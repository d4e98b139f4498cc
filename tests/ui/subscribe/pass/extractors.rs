use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use eventbus::prelude::*;

#[derive(Event, serde::Serialize, serde::Deserialize)]
struct UserSignedUp {
    email: String,
}

struct Mailer {
    from: &'static str,
}

static SENT: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn record(handler: &str, user: &UserSignedUp, ctx: &Context, mailer: &Mailer) {
    assert_eq!(ctx.depth(), 0);
    SENT.lock()
        .unwrap()
        .push(format!("{handler}: {} -> {}", mailer.from, user.email));
}

#[subscribe(priority = 4)]
fn sync_context_then_state(user: &UserSignedUp, ctx: &Context, mailer: State<Mailer>) {
    record("sync_context_then_state", user, ctx, &mailer);
}

#[subscribe(priority = 3)]
fn sync_state_then_context(
    user: &UserSignedUp,
    mailer: State<Mailer>,
    ctx: &Context,
) -> Result<(), String> {
    record("sync_state_then_context", user, ctx, &mailer);
    Ok(())
}

#[subscribe(priority = 2)]
async fn async_context_then_state(user: &UserSignedUp, ctx: &Context, mailer: State<Mailer>) {
    tokio::task::yield_now().await;
    record("async_context_then_state", user, ctx, &mailer);
}

#[subscribe(priority = 1)]
async fn async_state_then_context(
    user: &UserSignedUp,
    mailer: State<Mailer>,
    ctx: &Context,
) -> Result<(), std::io::Error> {
    tokio::task::yield_now().await;
    record("async_state_then_context", user, ctx, &mailer);
    Ok(())
}

#[subscribe]
fn context_only(_: &UserSignedUp, ctx: &Context) {
    assert_eq!(ctx.envelope().causation_id, None);
}

#[subscribe]
async fn state_only(_: &UserSignedUp, mailer: State<Mailer>) {
    assert_eq!(mailer.from, "hello@example.com");
}

static AUDITED: AtomicUsize = AtomicUsize::new(0);

// A catch-all takes extractors too; it is not counted in `handled()`.
#[subscribe]
fn audit(event: &AnyEvent, ctx: &Context, mailer: State<Mailer>) {
    assert_eq!(event.name(), "UserSignedUp");
    assert_eq!(ctx.depth(), 0);
    assert_eq!(mailer.from, "hello@example.com");
    AUDITED.fetch_add(1, Ordering::Relaxed);
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let bus = Bus::builder()
        .state(Mailer {
            from: "hello@example.com",
        })
        .build()
        .unwrap();

    let report = runtime.block_on(bus.publish_async(UserSignedUp {
        email: "ada@example.com".into(),
    }));
    assert_eq!(report.handled(), 6);
    assert_eq!(report.scheduled(), 0);
    assert!(report.is_ok(), "{:?}", report.failures());
    assert_eq!(AUDITED.load(Ordering::Relaxed), 1);

    // Sync handlers run inline first, in priority order; the async ones
    // run concurrently afterwards.
    let mut sent = SENT.lock().unwrap().clone();
    assert_eq!(
        sent[..2],
        [
            "sync_context_then_state: hello@example.com -> ada@example.com",
            "sync_state_then_context: hello@example.com -> ada@example.com",
        ]
    );
    sent[2..].sort_unstable();
    assert_eq!(
        sent[2..],
        [
            "async_context_then_state: hello@example.com -> ada@example.com",
            "async_state_then_context: hello@example.com -> ada@example.com",
        ]
    );
}
