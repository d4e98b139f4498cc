//! The [`Envelope`]: identity, order and lineage of one published event.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

pub use uuid::Uuid;

/// Where an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Origin {
    /// Published in this process.
    Local,
    /// Delivered from outside the process (a broker, an HTTP request).
    Remote,
    /// Read back from the event log.
    Replay,
}

impl Origin {
    /// The origin as the log and the wire write it: `local`, `remote` or
    /// `replay`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Remote => "remote",
            Self::Replay => "replay",
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Identity, order and lineage of one published event, read by handlers
/// through [`Context::envelope`](crate::Context::envelope).
///
/// The bus builds an envelope only for event types whose handlers read it
/// (those that take `&Context`), or that a sink or a journal records;
/// other publishes read no clock and draw no random bits.
///
/// A transport that brings events in builds one for each
/// [`EventRecord`](crate::EventRecord) it reads:
///
/// ```
/// use eventbus::{Envelope, Origin};
///
/// let envelope = Envelope::generate().with_source("rabbitmq");
/// assert_eq!(envelope.origin, Origin::Remote);
/// assert_eq!(envelope.correlation_id, envelope.id);
/// assert_eq!(envelope.source.as_deref(), Some("rabbitmq"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Envelope {
    /// A UUID v7: unique, and ordered by creation time to the millisecond.
    pub id: Uuid,
    /// Position among the envelopes this bus built: starts at 1, grows by
    /// one per event, in publish order. A delivered record gets the
    /// delivering bus's own; `0` on an envelope no bus has numbered.
    pub sequence: u64,
    /// When the event was published.
    pub timestamp: SystemTime,
    /// The id of the root event of the chain this event belongs to; a root
    /// event's own id.
    pub correlation_id: Uuid,
    /// The id of the event whose handler published this one; `None` for a
    /// root event.
    pub causation_id: Option<Uuid>,
    /// Where the event came from.
    pub origin: Origin,
    /// The transport an event from outside came through (`"rabbitmq"`,
    /// `"http"`); `None` for local events. A sink of that name is not
    /// handed the event back.
    pub source: Option<Cow<'static, str>>,
}

impl Envelope {
    /// The envelope of a root event from outside the process under `id`:
    /// stamped now, its own correlation id, no cause, origin
    /// [`Origin::Remote`], no source. Change what differs with the
    /// `with_` methods.
    #[must_use]
    pub fn new(id: Uuid) -> Self {
        Self {
            id,
            sequence: 0,
            timestamp: SystemTime::now(),
            correlation_id: id,
            causation_id: None,
            origin: Origin::Remote,
            source: None,
        }
    }

    /// [`Envelope::new`] under a fresh id, made as the bus makes its own
    /// (a UUID v7 greater than every id made before it in this process),
    /// for an event that arrives without one.
    #[must_use]
    pub fn generate() -> Self {
        let timestamp = SystemTime::now();
        Self {
            timestamp,
            ..Self::new(id_at(timestamp))
        }
    }

    /// With `timestamp` as the time the event was published.
    #[must_use]
    pub fn with_timestamp(mut self, timestamp: SystemTime) -> Self {
        self.timestamp = timestamp;
        self
    }

    /// With `correlation_id` as the id of its chain's root event.
    #[must_use]
    pub fn with_correlation_id(mut self, correlation_id: Uuid) -> Self {
        self.correlation_id = correlation_id;
        self
    }

    /// With `causation_id` as the id of the event that caused it.
    #[must_use]
    pub fn with_causation_id(mut self, causation_id: Option<Uuid>) -> Self {
        self.causation_id = causation_id;
        self
    }

    /// With `origin` as where the event came from.
    #[must_use]
    pub fn with_origin(mut self, origin: Origin) -> Self {
        self.origin = origin;
        self
    }

    /// With `source` as the transport the event came through.
    #[must_use]
    pub fn with_source(mut self, source: impl Into<Cow<'static, str>>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// The timestamp in RFC 3339, in UTC, to the nanosecond, as the
    /// record's JSON form writes it; `None` for a time RFC 3339 cannot
    /// write (outside the years 0 to 9999).
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    ///
    /// use eventbus::Envelope;
    ///
    /// let at = UNIX_EPOCH + Duration::new(1_796_630_950, 123_000_000);
    /// let envelope = Envelope::generate().with_timestamp(at);
    /// assert_eq!(envelope.timestamp_rfc3339().unwrap(), "2026-12-07T08:09:10.123Z");
    /// ```
    #[must_use]
    pub fn timestamp_rfc3339(&self) -> Option<String> {
        rfc3339(self.timestamp).ok()
    }
}

/// `timestamp` in RFC 3339, in UTC, to the nanosecond.
pub(crate) fn rfc3339(timestamp: SystemTime) -> Result<String, String> {
    let nanos = match timestamp.duration_since(UNIX_EPOCH) {
        Ok(since) => i128::try_from(since.as_nanos()).unwrap_or(i128::MAX),
        Err(before) => -i128::try_from(before.duration().as_nanos()).unwrap_or(i128::MAX),
    };
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .map_err(|error| format!("the timestamp cannot be written as RFC 3339: {error}"))?
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|error| error.to_string())
}

impl Envelope {
    /// A root event's envelope, under `id` when the event already has one.
    pub(crate) fn root(sequence: u64, id: Option<Uuid>) -> Self {
        let timestamp = SystemTime::now();
        let id = id.unwrap_or_else(|| id_at(timestamp));
        Self {
            id,
            sequence,
            timestamp,
            correlation_id: id,
            causation_id: None,
            origin: Origin::Local,
            source: None,
        }
    }

    /// The envelope of an event published by a handler of `parent`, under
    /// `id` when the event already has one.
    pub(crate) fn follow_up(parent: &Lineage, sequence: u64, id: Option<Uuid>) -> Self {
        Self {
            correlation_id: parent.correlation_id,
            causation_id: Some(parent.id),
            ..Self::root(sequence, id)
        }
    }

    pub(crate) fn lineage(&self) -> Lineage {
        Lineage {
            id: self.id,
            correlation_id: self.correlation_id,
        }
    }
}

/// The last id's time and counter: the Unix time in milliseconds above
/// [`COUNTER_BITS`] bits of counter.
static LAST: AtomicU64 = AtomicU64::new(0);

/// The counter that orders ids made in the same millisecond (UUID v7's
/// 12-bit `rand_a`, as RFC 9562 section 6.2 method 1 uses it).
const COUNTER_BITS: u32 = 12;

/// A new UUID v7, greater than every id made before it in this process:
/// the Unix time in milliseconds, a 12-bit counter for ids made in the
/// same millisecond (past 4,096 of them the time part runs ahead of the
/// clock until it catches up), then 62 random bits from a per-thread
/// `SplitMix64`. One atomic step orders the ids across threads; drawing
/// the random bits from the operating system on every event would cost a
/// system call.
pub(crate) fn new_id() -> Uuid {
    id_at(SystemTime::now())
}

/// [`new_id`] with the clock already read: an envelope's id and its
/// `timestamp` come from one reading of the clock (one fewer clock read
/// per event), so they name the same millisecond unless more than 4,096
/// ids in one millisecond ran the id's time ahead.
fn id_at(now: SystemTime) -> Uuid {
    thread_local! {
        static STATE: Cell<u64> = Cell::new(seed());
    }
    let millis = now.duration_since(UNIX_EPOCH).map_or(0, |since| {
        u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
    });
    let stamp_now = (millis & ((1 << 48) - 1)) << COUNTER_BITS;
    let mut last = LAST.load(Ordering::Relaxed);
    let stamp = loop {
        let next = stamp_now.max(last + 1);
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => break next,
            Err(seen) => last = seen,
        }
    };
    let random = STATE.with(splitmix);
    let counter = stamp & ((1 << COUNTER_BITS) - 1);
    let mut bytes = [0_u8; 10];
    // `from_unix_timestamp_millis` keeps the low 12 bits of the first two
    // bytes as `rand_a` and the low 62 of the other eight as `rand_b`.
    bytes[..2].copy_from_slice(&u16::try_from(counter).unwrap_or(0).to_be_bytes());
    bytes[2..].copy_from_slice(&random.to_le_bytes());
    uuid::Builder::from_unix_timestamp_millis(stamp >> COUNTER_BITS, &bytes).into_uuid()
}

/// A per-thread seed from the standard library's randomly keyed hasher.
fn seed() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(std::thread::current().id())
}

/// `SplitMix64`: a small, fast generator with good statistical quality,
/// plenty for the random part of an id that is already unique by its time
/// and counter.
fn splitmix(state: &Cell<u64>) -> u64 {
    let next = state.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
    state.set(next);
    let mut z = next;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// What a follow-up inherits from the event that caused it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lineage {
    pub(crate) id: Uuid,
    pub(crate) correlation_id: Uuid,
}

/// An event id made at most once, on demand: taken from the envelope when
/// there is one, drawn when first asked for otherwise.
///
/// An id known up front is kept apart from the one drawn on demand:
/// filling a `OnceLock`, even through `From`, goes through its `Once`,
/// which costs two atomic steps on every delivery with a context.
#[derive(Debug, Default)]
pub(crate) struct LazyId {
    known: Option<Uuid>,
    drawn: OnceLock<Uuid>,
}

impl LazyId {
    pub(crate) fn known(id: Uuid) -> Self {
        Self {
            known: Some(id),
            drawn: OnceLock::new(),
        }
    }

    /// The id, if one was made.
    pub(crate) fn known_id(&self) -> Option<Uuid> {
        self.known.or_else(|| self.drawn.get().copied())
    }

    /// Takes `id` as the event's id, unless one was already made (ids
    /// already reported do not change).
    pub(crate) fn set(&mut self, id: Uuid) {
        if self.known_id().is_none() {
            self.known = Some(id);
        }
    }

    pub(crate) fn get(&self) -> Uuid {
        match self.known {
            Some(id) => id,
            None => *self.drawn.get_or_init(new_id),
        }
    }
}
