//! Test support: record the events a bus delivers, to assert on the
//! follow-ups a handler publishes.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use crate::bus::Bus;
use crate::context::Context;
use crate::envelope::Envelope;
use crate::event::Event;
use crate::handler::{HandlerInfo, HandlerKind, Mode, SourceLocation};
use crate::subscription::Subscription;

impl Bus {
    /// Keeps every `E` delivered from now on, with its envelope, until the
    /// returned [`Recorded`] is dropped: follow-ups published with
    /// `ctx.publish` included. A recorder is no handler: it does not count
    /// in [`Report::handled`](crate::Report::handled).
    ///
    /// ```
    /// use eventbus::prelude::*;
    ///
    /// #[derive(Event, Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    /// struct OrderPlaced {
    ///     order: u32,
    /// }
    ///
    /// #[derive(Event, Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    /// struct ReceiptSent {
    ///     order: u32,
    /// }
    ///
    /// #[subscribe]
    /// fn send_receipt(order: &OrderPlaced, ctx: &Context) {
    ///     ctx.publish(ReceiptSent { order: order.order });
    /// }
    ///
    /// // Given a bus, when an order is placed, then a receipt is sent.
    /// let bus = Bus::new();
    /// let receipts = bus.record::<ReceiptSent>();
    /// let report = bus.publish(OrderPlaced { order: 7 });
    /// assert_eq!(receipts.events(), [ReceiptSent { order: 7 }]);
    /// assert_eq!(receipts.envelopes()[0].correlation_id, report.event_id());
    /// ```
    #[track_caller]
    #[must_use = "recording stops when the Recorded is dropped"]
    pub fn record<E: Event + Clone>(&self) -> Recorded<E> {
        let entries: Arc<Mutex<Vec<(E, Envelope)>>> = Arc::default();
        let sink = Arc::clone(&entries);
        let info = HandlerInfo::new(
            E::NAME,
            "eventbus::testing::Recorded",
            SourceLocation::caller(std::panic::Location::caller()),
            0,
            HandlerKind::Sync,
            Mode::Inline,
        );
        let call = Box::new(
            move |event: &dyn std::any::Any, context: Option<&Context>| {
                if let (Some(event), Some(context)) = (event.downcast_ref::<E>(), context) {
                    sink.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push((event.clone(), context.envelope().clone()));
                }
                Ok(())
            },
        );
        let slot = E::__meta().slot();
        let sub =
            self.dispatcher
                .runtime_subs
                .add(slot, info, crate::subs::SubCall::Sync(call), true);
        let subscription = Subscription::new(&self.dispatcher, slot, sub);
        Recorded {
            entries,
            _subscription: subscription,
        }
    }
}

/// The events of one type a bus delivered since [`Bus::record`]; dropping
/// it stops the recording.
pub struct Recorded<E> {
    entries: Arc<Mutex<Vec<(E, Envelope)>>>,
    _subscription: Subscription,
}

impl<E: Clone> Recorded<E> {
    /// The events, in the order they were delivered.
    #[must_use]
    pub fn events(&self) -> Vec<E> {
        self.lock().iter().map(|(event, _)| event.clone()).collect()
    }

    /// Their envelopes, in the same order.
    #[must_use]
    pub fn envelopes(&self) -> Vec<Envelope> {
        self.lock()
            .iter()
            .map(|(_, envelope)| envelope.clone())
            .collect()
    }

    /// How many were recorded.
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none was.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Forgets what was recorded so far; recording goes on.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(E, Envelope)>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<E> fmt::Debug for Recorded<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let len = self
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("Recorded")
            .field("event", &std::any::type_name::<E>())
            .field("len", &len)
            .finish_non_exhaustive()
    }
}
