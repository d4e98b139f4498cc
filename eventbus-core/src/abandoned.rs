//! Deliveries that no caller awaits (spawned handlers, a queued event's
//! async handlers, queued events) and that will never finish because the
//! runtime running them ended: reported as
//! [`FailureKind::Abandoned`](crate::FailureKind::Abandoned), never lost.

use std::any::Any;
use std::sync::Arc;

use crate::dispatcher::Dispatcher;
use crate::envelope::LazyId;
use crate::event::Event;
use crate::handler::HandlerInfo;
use crate::meta::EventMeta;
use crate::report::{EventRef, FailureKind, HandlerFailure};

/// A delivery that no caller awaits (a spawned handler, a queued event's
/// async handlers): reported as [`FailureKind::Abandoned`] if it is dropped
/// before [`Unfinished::finish`], which happens when the runtime running it
/// ends first.
pub(crate) struct Unfinished {
    dispatcher: Arc<Dispatcher>,
    handler: Option<HandlerInfo>,
    meta: &'static EventMeta,
    id: crate::envelope::Uuid,
    /// The event, kept for the dead letters.
    event: Option<Arc<dyn Any + Send + Sync>>,
    finished: bool,
}

impl Unfinished {
    /// Watches the delivery of `event` to `handler` (`None`: every handler
    /// of a queued event). The event is encoded for the dead letters only
    /// if the delivery is abandoned.
    pub(crate) fn new<E: Event>(
        dispatcher: &Arc<Dispatcher>,
        handler: Option<&HandlerInfo>,
        id: crate::envelope::Uuid,
        event: &Arc<E>,
    ) -> Self {
        Self {
            dispatcher: Arc::clone(dispatcher),
            handler: handler.cloned(),
            meta: E::__meta(),
            id,
            event: dispatcher
                .captures()
                .then(|| Arc::clone(event) as Arc<dyn Any + Send + Sync>),
            finished: false,
        }
    }

    /// The delivery has finished: nothing to report.
    pub(crate) fn finish(mut self) {
        self.finished = true;
    }
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        // A handler panicking through the bus (`catch_panics(false)`) is
        // not abandoned: the panic is what the user asked to see.
        if self.finished || std::thread::panicking() {
            return;
        }
        let what = match &self.handler {
            Some(handler) => Abandoned::Handler(handler),
            None => Abandoned::Delivery,
        };
        let id = LazyId::known(self.id);
        let event = self.event.take();
        let failure = abandoned(&self.dispatcher, self.meta, &id, event.as_deref(), what);
        let name = self.meta.name();
        tracing::error!(
            target: "eventbus",
            event = name,
            event_id = %self.id,
            "{failure}"
        );
        self.dispatcher.report_failures_in_drop(&[failure]);
    }
}

/// What was abandoned, for [`abandoned`].
pub(crate) enum Abandoned<'a> {
    /// An accepted event still in the queue.
    #[cfg(feature = "tokio")]
    Queued,
    /// A queued event whose async handlers had started.
    Delivery,
    /// A spawned call of one handler.
    Handler(&'a HandlerInfo),
}

/// The failure of an accepted event, or of one handler of it, that will
/// never finish: the runtime that ran it ended first. It keeps the event
/// for the dead letters when they want it.
pub(crate) fn abandoned(
    dispatcher: &Dispatcher,
    meta: &'static EventMeta,
    id: &LazyId,
    event: Option<&(dyn Any + Send + Sync)>,
    what: Abandoned<'_>,
) -> HandlerFailure {
    let name = meta.name();
    let message = match what {
        #[cfg(feature = "tokio")]
        Abandoned::Queued => format!(
            "`{name}` was accepted but never delivered: the bus's queue stopped first (the \
             runtime that ran it ended); await `bus.shutdown()` before the runtime ends"
        ),
        Abandoned::Delivery => format!(
            "the delivery of `{name}` was abandoned before its handlers finished: the runtime \
             that ran the bus's queue ended first; await `bus.shutdown()` before the runtime ends"
        ),
        Abandoned::Handler(handler) => format!(
            "the handler {} of `{name}` was abandoned before it finished: the runtime that \
             ran it ended first; await `bus.idle()` or `bus.shutdown()` before the runtime ends",
            handler.handler_name()
        ),
    };
    let mut failure =
        HandlerFailure::delivery(FailureKind::Abandoned, EventRef { name, id }, message);
    if let Some(event) = event {
        dispatcher.capture(&mut failure, meta, event);
    }
    failure
}
