//! Handlers laid out by event type: the routes of a bus, and the parts of
//! them that a delivery from outside may ask for alone (one group's
//! handlers for `deliver_to_group`, one handler for `deliver_to_handler`).

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::call::{ErasedCall, HandlerCall};
use crate::context::Only;
use crate::handler::HandlerInfo;
use crate::meta::EventMeta;
use crate::registry::{RegisteredHandler, Resolved};
use crate::route::{AnyRoute, ErasedRoute, RouteEntry, TypedRoute};

/// Builds the route of the type `meta` describes: through its `EventFns`,
/// which the layers above this one name.
pub(crate) type BuildRoute = fn(&'static EventMeta, Vec<RouteEntry>) -> AnyRoute;

/// The `chosen` handlers of each of `events`, in dispatch order, indexed
/// by event slot; catch-alls join every type's route, uncounted.
pub(crate) fn route_entries<'m>(
    events: impl IntoIterator<Item = &'m &'static EventMeta>,
    chosen: &[&RegisteredHandler],
) -> Vec<Option<(&'static EventMeta, Vec<RouteEntry>)>> {
    let mut routes: Vec<Option<(&'static EventMeta, Vec<RouteEntry>)>> = Vec::new();
    for meta in events {
        let slot = meta.slot();
        if routes.len() <= slot {
            routes.resize_with(slot + 1, || None);
        }
        routes[slot].get_or_insert_with(|| (*meta, Vec::new()));
    }
    for registered in chosen {
        let entry = |counted| RouteEntry {
            call: registered.call,
            info: registered.info.clone(),
            counted,
            context: registered.context,
            filter: registered.filter,
        };
        match registered.target {
            Resolved::Event(meta) => {
                if let Some((_, entries)) = &mut routes[meta.slot()] {
                    entries.push(entry(true));
                }
            }
            Resolved::Any => {
                for (_, entries) in routes.iter_mut().flatten() {
                    entries.push(entry(false));
                }
            }
            Resolved::Dead => {}
        }
    }
    routes
}

/// The catch-all (`&AnyEvent`) and the `&DeadEvent` handlers among
/// `chosen`, in dispatch order.
pub(crate) fn catch_alls(chosen: &[&RegisteredHandler]) -> (ErasedRoute, ErasedRoute) {
    let mut fallback: Vec<(ErasedCall, HandlerInfo)> = Vec::new();
    let mut dead: Vec<(ErasedCall, HandlerInfo)> = Vec::new();
    for registered in chosen {
        match (registered.target, registered.call) {
            (Resolved::Any, HandlerCall::Erased(call)) => {
                fallback.push((call, registered.info.clone()));
            }
            (Resolved::Dead, HandlerCall::Erased(call)) => {
                dead.push((call, registered.info.clone()));
            }
            _ => {}
        }
    }
    (ErasedRoute::new(fallback), ErasedRoute::new(dead))
}

/// Some of a bus's handlers, laid out as the bus lays out all of them.
pub(crate) struct Selection {
    /// By event slot: a `TypedRoute<E>` of the slot's type.
    routes: Box<[Option<AnyRoute>]>,
    /// The catch-alls, for a type none of the handlers takes.
    pub(crate) fallback: ErasedRoute,
    pub(crate) dead: ErasedRoute,
}

impl Selection {
    fn new(chosen: &[&RegisteredHandler], build: BuildRoute) -> Self {
        let events: Vec<&'static EventMeta> = chosen
            .iter()
            .filter_map(|registered| match registered.target {
                Resolved::Event(meta) => Some(meta),
                Resolved::Any | Resolved::Dead => None,
            })
            .collect();
        let (fallback, dead) = catch_alls(chosen);
        Self {
            routes: route_entries(&events, chosen)
                .into_iter()
                .map(|route| route.map(|(meta, entries)| build(meta, entries)))
                .collect(),
            fallback,
            dead,
        }
    }

    /// The route of `E`, if one of the handlers takes it.
    pub(crate) fn route<E: 'static>(&self, meta: &EventMeta) -> Option<&TypedRoute<E>> {
        self.routes
            .get(meta.slot())
            .and_then(Option::as_ref)
            .and_then(|route| route.downcast_ref::<TypedRoute<E>>())
    }
}

/// The groups and handlers of one bus that a delivery may ask for alone.
pub(crate) struct Selections {
    /// Every group with a handler on the bus, the remote ones included.
    groups: HashMap<&'static str, Selection>,
    /// Every link-time handler of the bus, the remote groups' included.
    registered: Box<[&'static RegisteredHandler]>,
    /// One handler's route, made the first time a delivery asks for it.
    handlers: OnceLock<HashMap<&'static str, (usize, OnceLock<Selection>)>>,
    /// The handlers that run on replays, made the first time one comes.
    replay: OnceLock<Selection>,
    build: BuildRoute,
}

impl Selections {
    /// The selections of a bus whose link-time handlers are `registered`.
    pub(crate) fn new(registered: Vec<&'static RegisteredHandler>, build: BuildRoute) -> Self {
        let mut by_group: HashMap<&'static str, Vec<&'static RegisteredHandler>> = HashMap::new();
        for registered in &registered {
            if let Some(group) = registered.info.group() {
                by_group.entry(group).or_default().push(registered);
            }
        }
        Self {
            groups: by_group
                .into_iter()
                .map(|(group, chosen)| (group, Selection::new(&chosen, build)))
                .collect(),
            registered: registered.into_boxed_slice(),
            handlers: OnceLock::new(),
            replay: OnceLock::new(),
            build,
        }
    }

    /// The group of this bus named `name`, as the bus keeps it.
    pub(crate) fn find_group(&self, name: &str) -> Option<Only> {
        self.groups
            .get_key_value(name)
            .map(|(group, _)| Only::Group(group))
    }

    /// The handler of this bus whose full path is `name`.
    pub(crate) fn find_handler(&self, name: &str) -> Option<Only> {
        self.handlers()
            .get_key_value(name)
            .map(|(handler, _)| Only::Handler(handler))
    }

    /// The handlers `only` names, if this bus has them.
    pub(crate) fn get(&self, only: Only) -> Option<&Selection> {
        match only {
            Only::Group(name) => self.groups.get(name),
            Only::Handler(name) => {
                let (at, selection) = self.handlers().get(name)?;
                Some(selection.get_or_init(|| Selection::new(&[self.registered[*at]], self.build)))
            }
            Only::Replay => Some(self.replay.get_or_init(|| {
                let chosen: Vec<&RegisteredHandler> = self
                    .registered
                    .iter()
                    .copied()
                    .filter(|registered| registered.info.replay())
                    .collect();
                Selection::new(&chosen, self.build)
            })),
        }
    }

    /// The names of the groups, sorted, for errors.
    pub(crate) fn group_names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self.groups.keys().copied().collect();
        names.sort_unstable();
        names
    }

    /// The names of the handlers, for errors.
    pub(crate) fn handler_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.registered
            .iter()
            .map(|registered| registered.info.handler_name())
    }

    fn handlers(&self) -> &HashMap<&'static str, (usize, OnceLock<Selection>)> {
        self.handlers.get_or_init(|| {
            self.registered
                .iter()
                .enumerate()
                .map(|(at, registered)| (registered.info.handler_name(), (at, OnceLock::new())))
                .collect()
        })
    }
}
