//! The synchronization types of the handshakes ([`Ledger`](crate::ledger),
//! [`CallGate`](crate::subscription), [`Tally`](crate::tally)): `loom`'s
//! under `--cfg eventbus_loom`, so its models explore every interleaving,
//! `std`'s otherwise.

#[cfg(eventbus_loom)]
pub(crate) use loom::sync::atomic::AtomicUsize;
#[cfg(all(eventbus_loom, feature = "tokio"))]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64};
#[cfg(all(eventbus_loom, feature = "tokio"))]
pub(crate) use loom::sync::MutexGuard;
#[cfg(eventbus_loom)]
pub(crate) use loom::sync::{Condvar, Mutex};

#[cfg(not(eventbus_loom))]
pub(crate) use std::sync::atomic::AtomicUsize;
#[cfg(all(not(eventbus_loom), feature = "tokio"))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64};
#[cfg(all(not(eventbus_loom), feature = "tokio"))]
pub(crate) use std::sync::MutexGuard;
#[cfg(not(eventbus_loom))]
pub(crate) use std::sync::{Condvar, Mutex};
