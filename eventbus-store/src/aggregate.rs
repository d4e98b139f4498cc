//! Aggregates: state rebuilt from the events of its own stream, saved by
//! appending new events at the version it was loaded at.

use std::ops::Deref;

use eventbus_core::{Envelope, Event, EventRecord};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::StoreError;
use crate::expected::ExpectedVersion;
use crate::sql::Snapshot;
use crate::store::Store;

/// State that is the sum of its events: an account is its deposits and
/// withdrawals. Its events live in stream `<NAME>-<id>`, as records of
/// one event type (an enum with `#[derive(Event)]`, one variant per
/// fact); [`Store::load`] rebuilds it, [`Store::save`] appends what it
/// decided at the version it was loaded at.
///
/// ```
/// use eventbus::prelude::*;
/// use eventbus::store::{Aggregate, Store};
///
/// #[derive(Event, serde::Serialize, serde::Deserialize)]
/// #[event(name = "counter.event")]
/// enum CounterEvent {
///     Added { by: u64 },
/// }
///
/// #[derive(Default, Clone, serde::Serialize, serde::Deserialize)]
/// struct Counter {
///     total: u64,
/// }
///
/// impl Aggregate for Counter {
///     const NAME: &'static str = "counter";
///     type Event = CounterEvent;
///
///     fn apply(&mut self, event: &CounterEvent) {
///         match event {
///             CounterEvent::Added { by } => self.total += by,
///         }
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), eventbus::store::StoreError> {
/// let store = Store::memory().await?;
/// let mut counter = store.load::<Counter>("c1").await?;
/// store.save(&mut counter, vec![CounterEvent::Added { by: 2 }]).await?;
/// let again = store.load::<Counter>("c1").await?;
/// assert_eq!((again.total, again.version()), (2, 1));
/// # Ok(())
/// # }
/// ```
pub trait Aggregate:
    Default + Clone + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// The first part of the stream's name: `<NAME>-<id>`.
    const NAME: &'static str;

    /// Saves a snapshot of the state every this many events (`None`:
    /// never), in the same transaction as the events; [`Store::load`]
    /// starts from the last one and applies only the events after it.
    const SNAPSHOT_EVERY: Option<u64> = None;

    /// What happens to it: an enum with `#[derive(Event)]`.
    type Event: Event + Serialize + DeserializeOwned;

    /// Changes the state by one event. Decisions (and their errors) live
    /// in the aggregate's own methods, which return the events to save;
    /// `apply` only records what happened.
    fn apply(&mut self, event: &Self::Event);
}

/// An aggregate as [`Store::load`] found it: its state and the version of
/// its stream it reflects. Reads as the state.
#[derive(Debug)]
pub struct Loaded<A> {
    id: String,
    state: A,
    version: u64,
}

impl<A: Aggregate> Loaded<A> {
    /// Its id: the stream is `<A::NAME>-<id>`.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// How many of its events the state reflects: 0 for one never saved.
    #[must_use]
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The state.
    #[must_use]
    pub fn state(&self) -> &A {
        &self.state
    }

    /// Its stream's name.
    #[must_use]
    pub fn stream(&self) -> String {
        stream_of::<A>(&self.id)
    }
}

impl<A> Deref for Loaded<A> {
    type Target = A;

    fn deref(&self) -> &A {
        &self.state
    }
}

fn stream_of<A: Aggregate>(id: &str) -> String {
    format!("{}-{id}", A::NAME)
}

impl Store {
    /// Rebuilds aggregate `A` with id `id` from its stream: from its last
    /// snapshot, if it has one that still reads as `A`, then every event
    /// after it, upcast to `A::Event`'s version. An aggregate never saved
    /// is `A::default()` at version 0.
    ///
    /// # Errors
    ///
    /// [`StoreError::Decode`] naming the position and stream of an event
    /// that does not decode; [`StoreError::Database`] when the database
    /// fails.
    pub async fn load<A: Aggregate>(&self, id: &str) -> Result<Loaded<A>, StoreError> {
        let stream = stream_of::<A>(id);
        // A snapshot that no longer reads as the state (its shape changed)
        // is only a lost shortcut: the stream is read from its start.
        let snapshot = self
            .read_snapshot(&stream)
            .await?
            .and_then(|(version, state)| {
                serde_json::from_str::<A>(&state)
                    .ok()
                    .map(|state| (version, state))
            });
        let (mut version, mut state) = snapshot.unwrap_or_default();
        for stored in self.read_stream(&stream, version + 1).await? {
            state.apply(&stored.decode::<A::Event>()?);
            version = stored.stream_version;
        }
        Ok(Loaded {
            id: id.to_owned(),
            state,
            version,
        })
    }

    /// Appends `events` to the aggregate's stream at the version it was
    /// loaded at, then applies them to `loaded`; with
    /// [`Aggregate::SNAPSHOT_EVERY`], writes a snapshot in the same
    /// transaction when the stream passes a multiple of it. Returns the
    /// positions of the events.
    ///
    /// # Errors
    ///
    /// [`StoreError::WrongExpectedVersion`] when another writer saved the
    /// aggregate since it was loaded (load it again and decide again);
    /// nothing is written and `loaded` is unchanged. As
    /// [`Store::append`] otherwise.
    pub async fn save<A: Aggregate>(
        &self,
        loaded: &mut Loaded<A>,
        events: Vec<A::Event>,
    ) -> Result<Vec<u64>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let stream = loaded.stream();
        let records = events
            .iter()
            .map(|event| {
                let envelope = Envelope::generate();
                let event_id = envelope.id;
                EventRecord::from_event(event, envelope).map_err(|error| StoreError::Unstorable {
                    event_id,
                    name: A::Event::NAME.to_owned(),
                    message: error.to_string(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let before = loaded.version;
        let after = before + records.len() as u64;
        // The state as it will be once the events commit: only then does
        // `loaded` take it.
        let mut state = loaded.state.clone();
        for event in &events {
            state.apply(event);
        }
        let snapshot = match A::SNAPSHOT_EVERY {
            Some(every) if every > 0 && after / every > before / every => Some(Snapshot {
                stream: &stream,
                version: after,
                state: serde_json::to_string(&state).map_err(|error| StoreError::Snapshot {
                    stream: stream.clone(),
                    message: error.to_string(),
                })?,
            }),
            _ => None,
        };
        let positions = self
            .append_with(
                &stream,
                ExpectedVersion::Exact(before),
                &records,
                snapshot.as_ref(),
            )
            .await?;
        loaded.state = state;
        loaded.version = after;
        Ok(positions)
    }
}
