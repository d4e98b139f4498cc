//! Where publishing on a thread stands: the cascade depth of an event
//! published now, and how many deliveries are on the thread's stack.

use std::cell::Cell;

thread_local! {
    /// Where publishing on this thread stands: in the low 32 bits, the
    /// cascade depth of an event published now (one below the event whose
    /// handler runs here, 0 outside any handler); in the high 32 bits, how
    /// many deliveries are on this thread's stack. One word, so `publish`
    /// reads both at once.
    static DEPTH: Cell<u64> = const { Cell::new(0) };
}

/// How deep synchronous publishing may nest on one thread (a `bus.publish`
/// inside a handler, inside a handler...): past this, the stack is at
/// risk whatever `max_cascade_depth` says.
pub(crate) const MAX_NESTED_PUBLISH: u32 = 128;

/// Where an event published now stands: its cascade depth, and how many
/// deliveries are already on this thread's stack.
#[derive(Clone, Copy)]
pub(crate) struct Nesting {
    pub(crate) depth: u32,
    pub(crate) frames: u32,
}

/// Where an event published now on this thread (or in this task) stands.
#[inline]
pub(crate) fn nesting() -> Nesting {
    let word = DEPTH.with(Cell::get);
    #[allow(clippy::cast_possible_truncation)] // the two halves of the word
    Nesting {
        depth: word as u32,
        frames: (word >> 32) as u32,
    }
}

/// The depth of an event published now: one below the event being handled
/// on this thread (or in this task), 0 outside any handler.
#[cfg(feature = "tokio")]
#[inline]
pub(crate) fn nested_depth() -> u32 {
    nesting().depth
}

/// Marks the current thread as running handlers of an event at `depth`,
/// one delivery deeper on its stack, until dropped.
pub(crate) struct DepthScope(u64);

impl DepthScope {
    /// [`DepthScope::enter`] where the thread's word was read already
    /// (`current`, from [`nesting`]) and has not changed since: one read
    /// of the thread-local per `publish`, not two.
    #[inline]
    pub(crate) fn enter_from(current: Nesting, depth: u32) -> Self {
        let old = (u64::from(current.frames) << 32) | u64::from(current.depth);
        let frames = u64::from(current.frames) + 1;
        let new = (frames << 32) | u64::from(depth.saturating_add(1));
        DEPTH.with(|word| word.set(new));
        Self(old)
    }

    #[inline]
    pub(crate) fn enter(depth: u32) -> Self {
        // A plain load and a plain store, as `nesting` and `drop` do: a
        // closure that does both through one `with` is not inlined.
        let old = DEPTH.with(Cell::get);
        let frames = (old >> 32) + 1;
        let new = (frames << 32) | u64::from(depth.saturating_add(1));
        DEPTH.with(|current| current.set(new));
        Self(old)
    }
}

impl Drop for DepthScope {
    #[inline]
    fn drop(&mut self) {
        // Not `DEPTH.set`: it goes through a lazy initializer that is not
        // inlined, a third of a plain publish.
        DEPTH.with(|depth| depth.set(self.0));
    }
}
