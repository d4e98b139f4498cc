//! A journal that counts what the bus asks of the store: one append per
//! transaction, and the events in them. Shared by `tests/durable.rs` and
//! `benches/durable.rs`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use eventbus::layer::BoxFuture;
use eventbus::store::Store;
use eventbus::{BoxError, Journal, JournalEntry, Logged, Uuid};

/// The store, counting the bus's appends.
#[derive(Clone)]
pub struct Counting {
    pub store: Store,
    /// Appends: transactions.
    pub appends: Arc<AtomicUsize>,
    /// Events in them.
    pub events: Arc<AtomicUsize>,
}

impl Counting {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            appends: Arc::new(AtomicUsize::new(0)),
            events: Arc::new(AtomicUsize::new(0)),
        }
    }
}

impl Journal for Counting {
    fn append<'a>(
        &'a self,
        entries: &'a [JournalEntry],
    ) -> BoxFuture<'a, Result<Vec<u64>, BoxError>> {
        self.appends.fetch_add(1, Ordering::Relaxed);
        self.events.fetch_add(entries.len(), Ordering::Relaxed);
        Journal::append(&self.store, entries)
    }

    fn read_after(&self, after: u64, limit: usize) -> BoxFuture<'_, Result<Vec<Logged>, BoxError>> {
        self.store.read_after(after, limit)
    }

    fn checkpoint<'a>(&'a self, relay: &'a str) -> BoxFuture<'a, Result<u64, BoxError>> {
        Journal::checkpoint(&self.store, relay)
    }

    fn save_checkpoint<'a>(
        &'a self,
        relay: &'a str,
        position: u64,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        Journal::save_checkpoint(&self.store, relay, position)
    }

    fn hold<'a>(
        &'a self,
        name: &'a str,
        holder: Uuid,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, BoxError>> {
        Journal::hold(&self.store, name, holder, ttl)
    }

    fn release<'a>(&'a self, name: &'a str, holder: Uuid) -> BoxFuture<'a, Result<(), BoxError>> {
        Journal::release(&self.store, name, holder)
    }
}
