//! [`Extensions`]: values a deliverer hands to the handlers of one
//! delivery, by type.

use std::any::{Any, TypeId};
use std::fmt;

/// Values handed to the handlers of one delivery, one per type: what a
/// transport or the event log knows about the delivery and the handlers
/// may use, such as an open database transaction.
///
/// Give them with [`Inbound::extension`](crate::Inbound::extension);
/// handlers read them with [`Context::extension`](crate::Context::extension)
/// or take an [`Extension<T>`](crate::Extension) parameter. The follow-up
/// events the handlers publish see them too: they are part of the same
/// delivery.
///
/// ```
/// use eventbus::Extensions;
///
/// #[derive(Clone, Debug, PartialEq)]
/// struct Tenant(&'static str);
///
/// let mut extensions = Extensions::new();
/// extensions.insert(Tenant("acme"));
/// assert_eq!(extensions.get::<Tenant>(), Some(&Tenant("acme")));
/// assert_eq!(extensions.get::<u32>(), None);
/// ```
#[derive(Default)]
pub struct Extensions {
    entries: Vec<(TypeId, &'static str, Box<dyn Any + Send + Sync>)>,
}

impl Extensions {
    /// No values.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `value`, replacing the value of the same type if there was
    /// one; returns the replaced value.
    pub fn insert<T: Send + Sync + 'static>(&mut self, value: T) -> Option<T> {
        let id = TypeId::of::<T>();
        let old = self
            .entries
            .iter()
            .position(|(known, _, _)| *known == id)
            .map(|at| self.entries.swap_remove(at).2);
        self.entries
            .push((id, std::any::type_name::<T>(), Box::new(value)));
        old.and_then(|old| old.downcast::<T>().ok()).map(|old| *old)
    }

    /// The value of type `T`, if one was given.
    #[must_use]
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<&T> {
        let id = TypeId::of::<T>();
        self.entries
            .iter()
            .find(|(known, _, _)| *known == id)
            .and_then(|(_, _, value)| value.downcast_ref::<T>())
    }

    /// How many values there are.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl fmt::Debug for Extensions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.entries.iter().map(|(_, name, _)| name))
            .finish()
    }
}
