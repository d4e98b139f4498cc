//! The store as a bus's [`Journal`]: `Bus::builder().journal(store)`.

use eventbus_core::layer::BoxFuture;
use std::time::Duration;

use eventbus_core::{BoxError, Journal, JournalEntry, Logged, Uuid};

use crate::row::NewRow;
use crate::store::Store;

/// The bus appends every event it accepts (its group commit hands many in
/// one call, one transaction), and its relays read the log back from
/// their checkpoints in `eventbus_checkpoints`.
///
/// ```
/// use eventbus::prelude::*;
/// use eventbus::store::Store;
///
/// #[derive(Event, Clone, serde::Serialize, serde::Deserialize)]
/// #[event(name = "doc.shipped")]
/// struct Shipped {
///     parcel: u32,
/// }
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = Store::memory().await?;
/// let bus = Bus::builder().journal(store.clone()).build()?;
/// // Back once the event is committed to the log.
/// bus.emit(Shipped { parcel: 7 }).await?;
/// let logged = store.read_stream("doc.shipped", 1).await?;
/// assert_eq!((logged.len(), logged[0].handled), (1, false));
/// # Ok(())
/// # }
/// ```
impl Journal for Store {
    fn append<'a>(
        &'a self,
        entries: &'a [JournalEntry],
    ) -> BoxFuture<'a, Result<Vec<u64>, BoxError>> {
        Box::pin(async move {
            let rows = entries
                .iter()
                .map(|entry| NewRow::new(&entry.stream, &entry.record, entry.handled))
                .collect::<Result<Vec<_>, _>>()?;
            let action = match entries {
                [one] => format!(
                    "append event {} to stream `{}`",
                    one.record.envelope.id, one.stream
                ),
                _ => format!("append {} events", entries.len()),
            };
            Ok(self.append_rows(&rows, None, None, &action).await?)
        })
    }

    fn read_after(&self, after: u64, limit: usize) -> BoxFuture<'_, Result<Vec<Logged>, BoxError>> {
        Box::pin(async move {
            let events = self.read_all(after, limit).await?;
            Ok(events
                .into_iter()
                .map(|event| Logged::new(event.position, event.stream, event.record, event.handled))
                .collect())
        })
    }

    fn checkpoint<'a>(&'a self, relay: &'a str) -> BoxFuture<'a, Result<u64, BoxError>> {
        Box::pin(async move { Ok(Store::checkpoint(self, relay).await?) })
    }

    fn save_checkpoint<'a>(
        &'a self,
        relay: &'a str,
        position: u64,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move { Ok(Store::save_checkpoint(self, relay, position).await?) })
    }

    fn hold<'a>(
        &'a self,
        name: &'a str,
        holder: Uuid,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, BoxError>> {
        Box::pin(async move { Ok(Store::hold(self, name, holder, ttl).await?) })
    }

    fn release<'a>(&'a self, name: &'a str, holder: Uuid) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move { Ok(Store::release(self, name, holder).await?) })
    }
}
