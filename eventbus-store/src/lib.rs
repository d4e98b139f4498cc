//! The event log of eventbus: event records appended to streams in
//! SQLite (the embedded default) or PostgreSQL, read back by stream or in
//! log order, with the expected-version check that keeps two writers from
//! both deciding on the same state.
//!
//! The tables are pinned (psql and Python's sqlite3 read them):
//! `eventbus_events`, `eventbus_checkpoints`, `eventbus_snapshots`,
//! `eventbus_dead_letters` (and `eventbus_leases` on SQLite), with the
//! applied schema versions in `eventbus_schema_version`.
#![forbid(unsafe_code)]

mod aggregate;
mod dead_letters;
mod error;
mod expected;
mod fast;
mod journal;
mod lease;
mod projection;
mod row;
mod schema;
mod sql;
mod store;
mod stored;

pub use aggregate::{Aggregate, Loaded};
pub use dead_letters::{StoreDeadLetters, StoredDeadLetter};
pub use error::StoreError;
pub use expected::ExpectedVersion;
pub use projection::{
    LogPosition, Param, Projected, Projection, Transaction, DEFAULT_PROJECTION_BATCH,
};
pub use store::{Store, StorePool, Tail};
pub use stored::StoredEvent;
