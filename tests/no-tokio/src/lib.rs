//! Events and handlers for the tests of the sync API without tokio. Built
//! alone (`cargo test -p eventbus-no-tokio`), `eventbus` has no `tokio`
//! feature; inside the workspace build it may have it, and the tests pass
//! either way.

use std::sync::atomic::{AtomicUsize, Ordering};

use eventbus::prelude::*;

/// An order, handled by one sync and one async handler.
#[derive(Event, Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Ordered {
    /// How many items.
    pub items: u32,
}

/// Items counted by [`count_items`].
pub static ITEMS: AtomicUsize = AtomicUsize::new(0);

/// Calls of [`confirm`] that finished.
pub static CONFIRMED: AtomicUsize = AtomicUsize::new(0);

/// Counts the items of each order.
#[subscribe]
pub fn count_items(order: &Ordered) {
    ITEMS.fetch_add(order.items as usize, Ordering::SeqCst);
}

/// An async handler: awaited by `publish_async` on any executor; `publish`
/// cannot start it without a runtime.
#[subscribe]
pub async fn confirm(_: &Ordered) {
    CONFIRMED.fetch_add(1, Ordering::SeqCst);
}
