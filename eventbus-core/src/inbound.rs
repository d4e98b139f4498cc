//! Events from outside the process: [`Bus::deliver`] and its variants turn
//! an [`EventRecord`] back into its Rust type and dispatch it with its
//! envelope kept, through the same dispatcher as a local `publish`.

use std::any::Any;
use std::sync::Arc;

use crate::bus::Bus;
use crate::cascade::Cascade;
use crate::context::{Given, Only, Parent};
use crate::depth::nesting;
use crate::envelope::{LazyId, Origin};
use crate::error::PublishError;
use crate::event_fns::EventFns;
use crate::extensions::Extensions;
use crate::meta::EventMeta;
use crate::record::EventRecord;
use crate::record_json::{decode_payload, find_event};
use crate::report::Report;
use crate::upcast::upcast;

/// A record on its way into a bus, with what goes with it: the part of
/// the bus's handlers it is for, and [`Extensions`] for them. Made by
/// [`Bus::inbound`]; [`Bus::deliver`] and its variants are shortcuts.
///
/// ```
/// use eventbus::prelude::*;
/// use eventbus::{Envelope, EventRecord};
///
/// #[derive(Event, serde::Serialize, serde::Deserialize)]
/// #[event(name = "doc.parcel_shipped")]
/// struct ParcelShipped {
///     parcel: u32,
/// }
///
/// #[subscribe(group = "tracking")]
/// fn track(shipped: &ParcelShipped, ctx: &Context) {
///     assert_eq!(ctx.extension::<&str>(), Some(&"from the broker"));
/// }
///
/// let bus = Bus::builder().remote_groups(["tracking"]).build().unwrap();
/// let record = EventRecord::from_event(&ParcelShipped { parcel: 3 }, Envelope::generate()).unwrap();
/// let report = bus
///     .inbound(record)
///     .group("tracking")
///     .extension("from the broker")
///     .deliver()
///     .unwrap();
/// assert_eq!(report.handled(), 1);
/// ```
#[derive(Debug)]
#[must_use = "an inbound record is delivered by `deliver` or `deliver_async`"]
pub struct Inbound<'b> {
    bus: &'b Bus,
    record: EventRecord,
    only: Option<Asked>,
    extensions: Extensions,
    /// Read from the bus's own journal by its relay: not appended again.
    journaled: bool,
}

/// The part of the handlers asked for, by the caller's name.
#[derive(Debug)]
enum Asked {
    Group(String),
    Handler(String),
}

impl Bus {
    /// Starts delivering `record`; see [`Inbound`].
    pub fn inbound(&self, record: EventRecord) -> Inbound<'_> {
        Inbound {
            bus: self,
            record,
            only: None,
            extensions: Extensions::new(),
            journaled: false,
        }
    }

    /// Delivers an event from outside the process: decodes `record` by its
    /// name (after upcasting an older version) and runs the handlers a
    /// local `publish` would run, with the record's envelope (`id`,
    /// `correlation_id`, `causation_id`, `timestamp`, `origin`, `source`;
    /// the `sequence` is this bus's own). Follow-up events carry the
    /// record's correlation id.
    ///
    /// ```
    /// use eventbus::prelude::*;
    /// use eventbus::{Envelope, EventRecord};
    ///
    /// #[derive(Event, serde::Serialize, serde::Deserialize)]
    /// #[event(name = "doc.seat_booked")]
    /// struct SeatBooked {
    ///     seat: u32,
    /// }
    ///
    /// #[subscribe]
    /// fn confirm(booked: &SeatBooked, ctx: &Context) {
    ///     println!("seat {} booked, event {}", booked.seat, ctx.envelope().id);
    /// }
    ///
    /// let bus = Bus::new();
    /// let envelope = Envelope::generate().with_source("http");
    /// let id = envelope.id;
    /// let record = EventRecord::new("doc.seat_booked", 1, br#"{"seat":12}"#.to_vec(), envelope);
    /// let report = bus.deliver(record).unwrap();
    /// assert_eq!((report.handled(), report.event_id()), (1, id));
    ///
    /// let unknown = EventRecord::new("doc.seat_bookd", 1, b"{}".to_vec(), Envelope::generate());
    /// assert!(bus.deliver(unknown).is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// Nothing is delivered, and the error says what was wrong, when no
    /// type is registered under the name ([`PublishError::UnknownEvent`],
    /// with the closest names), when it is a local event
    /// ([`PublishError::LocalEvent`]), when the version is newer than this
    /// program knows or older and the upcasters cannot bring it up
    /// ([`PublishError::Upcast`]), and when the payload does not decode
    /// ([`PublishError::InvalidJson`], with `serde_json`'s message). A bus
    /// that is shut down returns `Ok` with a report whose one failure says
    /// so: hand the record back to its transport.
    pub fn deliver(&self, record: EventRecord) -> Result<Report, PublishError> {
        self.inbound(record).deliver()
    }

    /// [`Bus::deliver`], awaiting the async handlers as
    /// [`Bus::publish_async`] does.
    ///
    /// # Errors
    ///
    /// As [`Bus::deliver`].
    pub async fn deliver_async(&self, record: EventRecord) -> Result<Report, PublishError> {
        self.inbound(record).deliver_async().await
    }

    /// [`Bus::deliver`] to the handlers of one group only, local or remote
    /// (see [`BusBuilder::remote_groups`](crate::BusBuilder::remote_groups)):
    /// what a broker consumer of that group calls.
    ///
    /// # Errors
    ///
    /// As [`Bus::deliver`], and [`PublishError::UnknownGroup`] when no
    /// handler of this bus is in `group`.
    pub fn deliver_to_group(
        &self,
        record: EventRecord,
        group: &str,
    ) -> Result<Report, PublishError> {
        self.inbound(record).group(group).deliver()
    }

    /// [`Bus::deliver_to_group`], awaiting the async handlers.
    ///
    /// # Errors
    ///
    /// As [`Bus::deliver_to_group`].
    pub async fn deliver_to_group_async(
        &self,
        record: EventRecord,
        group: &str,
    ) -> Result<Report, PublishError> {
        self.inbound(record).group(group).deliver_async().await
    }

    /// [`Bus::deliver`] to one handler, by its full path
    /// ([`HandlerInfo::handler_name`](crate::HandlerInfo::handler_name)):
    /// a broker's retry of the one handler that failed.
    ///
    /// # Errors
    ///
    /// As [`Bus::deliver`], and [`PublishError::UnknownHandler`] (with the
    /// closest names) when this bus has no such handler.
    pub fn deliver_to_handler(
        &self,
        record: EventRecord,
        handler: &str,
    ) -> Result<Report, PublishError> {
        self.inbound(record).handler(handler).deliver()
    }

    /// [`Bus::deliver_to_handler`], awaiting an async handler.
    ///
    /// # Errors
    ///
    /// As [`Bus::deliver_to_handler`].
    pub async fn deliver_to_handler_async(
        &self,
        record: EventRecord,
        handler: &str,
    ) -> Result<Report, PublishError> {
        self.inbound(record).handler(handler).deliver_async().await
    }
}

impl Inbound<'_> {
    /// Runs only the handlers of `group`, local or remote.
    pub fn group(mut self, group: &str) -> Self {
        self.only = Some(Asked::Group(group.to_owned()));
        self
    }

    /// Runs only the handler whose full path is `handler`.
    pub fn handler(mut self, handler: &str) -> Self {
        self.only = Some(Asked::Handler(handler.to_owned()));
        self
    }

    /// Marks the record as read from this bus's journal: it is not
    /// appended again.
    #[cfg(feature = "tokio")]
    pub(crate) fn relayed(mut self) -> Self {
        self.journaled = true;
        self
    }

    /// Hands `value` to the handlers (see [`Extensions`]); one per type,
    /// the last one given wins.
    pub fn extension<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.extensions.insert(value);
        self
    }

    /// Delivers the record as [`Bus::deliver`] does.
    ///
    /// # Errors
    ///
    /// As [`Bus::deliver`], [`Bus::deliver_to_group`] and
    /// [`Bus::deliver_to_handler`].
    pub fn deliver(self) -> Result<Report, PublishError> {
        let bus = self.bus;
        let Decoded {
            meta,
            event,
            given,
            extensions,
        } = self.decode()?;
        Ok(bus.publish_decoded(meta, event, Some(given), extensions))
    }

    /// Delivers the record as [`Bus::deliver_async`] does.
    ///
    /// # Errors
    ///
    /// As [`Inbound::deliver`].
    pub async fn deliver_async(self) -> Result<Report, PublishError> {
        let bus = self.bus;
        let journaled = self.journaled;
        let Decoded {
            meta,
            event,
            given,
            extensions,
        } = self.decode()?;
        let dispatcher = &bus.dispatcher;
        let nesting = nesting();
        // The relay drains what was committed before shutdown, as the
        // queue drains what was queued.
        if !(journaled && dispatcher.is_shut_down()) {
            if let Some(refused) = dispatcher.refuse_erased(meta, &*event, nesting) {
                return Ok(refused);
            }
        }
        let mut id = LazyId::default();
        let mut failures = Vec::new();
        let mut follow_ups = Vec::new();
        let parent = Parent {
            given: Some(given),
            extensions,
            ..Parent::root(nesting.depth)
        };
        let delivered = (EventFns::of_meta(meta).deliver_async)(
            dispatcher,
            event,
            parent,
            &mut id,
            &mut failures,
            &mut follow_ups,
        )
        .await;
        Cascade::new(follow_ups)
            .run_async(dispatcher, &mut failures)
            .await;
        dispatcher.report_failures(&failures);
        Ok(delivered.into_report(meta.name(), id, failures))
    }

    /// Everything that can fail before a handler runs: the handlers asked
    /// for, the name, the version, the payload.
    fn decode(self) -> Result<Decoded, PublishError> {
        let only = match &self.only {
            // Read back from the log: only the handlers that say so run.
            None if self.record.envelope.origin == Origin::Replay => Some(Only::Replay),
            None => None,
            Some(asked) => Some(self.bus.find(asked)?),
        };
        let meta = find_event(&self.record.name)?;
        let payload = upcast(meta, self.record.version, &self.record.payload)?;
        let event = decode_payload(meta, &payload)?;
        let extensions = (!self.extensions.is_empty()).then(|| Arc::new(self.extensions));
        let given = Box::new(Given {
            envelope: self.record.envelope,
            only,
            sent: false,
            journaled: self.journaled,
        });
        Ok(Decoded {
            meta,
            event,
            given,
            extensions,
        })
    }
}

/// A record ready for the dispatcher.
struct Decoded {
    meta: &'static EventMeta,
    event: Box<dyn Any + Send>,
    given: Box<Given>,
    extensions: Option<Arc<Extensions>>,
}

impl Bus {
    /// The group or handler `asked` names, as this bus keeps it.
    fn find(&self, asked: &Asked) -> Result<Only, PublishError> {
        let selections = &self.dispatcher.selections;
        match asked {
            Asked::Group(group) => {
                selections
                    .find_group(group)
                    .ok_or_else(|| PublishError::UnknownGroup {
                        group: group.clone(),
                        groups: selections.group_names(),
                    })
            }
            Asked::Handler(handler) => {
                selections
                    .find_handler(handler)
                    .ok_or_else(|| PublishError::UnknownHandler {
                        handler: handler.clone(),
                        suggestions: closest(handler, selections.handler_names()),
                    })
            }
        }
    }
}

/// Up to three of the handler paths `names` closest to `name`, closest
/// first, compared by their last segment: paths in one module share a
/// prefix that says nothing.
fn closest(name: &str, names: impl Iterator<Item = &'static str>) -> Vec<&'static str> {
    let last = |path: &str| path.rsplit("::").next().unwrap_or_default().to_owned();
    let wanted = last(name);
    let mut scored: Vec<(f64, &'static str)> = names
        .map(|known| (strsim::jaro_winkler(&wanted, &last(known)), known))
        .filter(|(score, _)| *score > 0.8)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    scored.into_iter().take(3).map(|(_, known)| known).collect()
}
