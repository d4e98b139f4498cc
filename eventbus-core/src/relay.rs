//! The handler relay: hands the events a bus emitted into its journal to
//! the handlers, reading them back from the log, and keeps its place there
//! under a named checkpoint.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use crate::bus::Bus;
use crate::dispatcher::Dispatcher;
use crate::journaling::{HANDLER_RELAY, POLL, RELAY_BATCH};

/// Starts the relays of a bus with a journal.
pub(crate) fn start(dispatcher: &Arc<Dispatcher>, runtime: &tokio::runtime::Handle) {
    runtime.spawn(handler_relay(Arc::downgrade(dispatcher)));
}

/// Reads the log from the handler relay's checkpoint and delivers each
/// record whose handlers have not run (`handled == false`), keeping its
/// envelope; saves the checkpoint after each batch. Ends when the bus is
/// gone or shut down.
async fn handler_relay(dispatcher: Weak<Dispatcher>) {
    let mut position = None;
    loop {
        let Some(strong) = dispatcher.upgrade() else {
            return;
        };
        let Some(journaling) = strong.journaling.as_ref() else {
            return;
        };
        if journaling.stopping.load(Ordering::Acquire) {
            return;
        }
        let journal = Arc::clone(&journaling.journal);
        let changed = Arc::clone(&journaling.changed);
        // Woken by a commit made while this reads.
        let woken = changed.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let after = match position {
            Some(after) => after,
            None => match journal.checkpoint(HANDLER_RELAY).await {
                Ok(after) => *position.insert(after),
                Err(error) => {
                    tracing::error!(target: "eventbus", "the handler relay could not read its checkpoint: {error}");
                    drop(strong);
                    tokio::time::sleep(POLL).await;
                    continue;
                }
            },
        };
        let batch = match journal.read_after(after, RELAY_BATCH).await {
            Ok(batch) => batch,
            Err(error) => {
                tracing::error!(target: "eventbus", "the handler relay could not read the journal: {error}");
                drop(strong);
                tokio::time::sleep(POLL).await;
                continue;
            }
        };
        if batch.is_empty() {
            journaling.relayed.fetch_max(after, Ordering::AcqRel);
            changed.notify_waiters();
            // Not holding the bus while it waits.
            drop(strong);
            let _ = tokio::time::timeout(POLL, woken).await;
            continue;
        }
        let bus = Bus::from_dispatcher(&strong);
        let mut reached = after;
        for logged in batch {
            if !logged.handled {
                let id = logged.record.envelope.id;
                let name = logged.record.name.clone();
                if let Err(error) = bus.inbound(logged.record).relayed().deliver_async().await {
                    tracing::error!(
                        target: "eventbus",
                        event = &*name,
                        event_id = %id,
                        position = logged.position,
                        "the handler relay could not deliver a record from the journal: {error}"
                    );
                }
            }
            reached = logged.position;
        }
        if let Err(error) = journal.save_checkpoint(HANDLER_RELAY, reached).await {
            tracing::error!(target: "eventbus", "the handler relay could not save its checkpoint: {error}");
        }
        position = Some(reached);
        journaling.relayed.fetch_max(reached, Ordering::AcqRel);
        changed.notify_waiters();
    }
}
