//! Upcasting: a record of an older version of an event is turned into the
//! current one, one registered step per version.
//!
//! Every `#[upcast(event = E, from = N)]` function submits an
//! [`UpcasterRegistration`] through `inventory`, a JSON -> JSON step from
//! version `N` to `N + 1`. Building a bus checks that each event's steps
//! form one unbroken chain up to its current version ([`check_chains`]),
//! so a missing step is found at start-up, not mid-replay; [`upcast`] then
//! walks that chain for a record.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::OnceLock;

use crate::error::{BuildError, UpcastError};
use crate::handler::{BoxError, SourceLocation};
use crate::meta::EventMeta;

/// One step of a chain: the event as JSON at one version in, the same
/// event at the next version out.
pub(crate) type Step = fn(serde_json::Value) -> Result<serde_json::Value, BoxError>;

/// A registered upcaster; submitted by `#[upcast]`.
#[doc(hidden)]
pub struct UpcasterRegistration {
    event: fn() -> &'static EventMeta,
    from: u32,
    step: Step,
    name: &'static str,
    location: SourceLocation,
}

// The event's metadata is an argument rather than an `E: Event` bound for
// the reason `HandlerRegistration`'s constructors give: the generated code
// reads it through a trait of the user's crate, where a type that is no
// event fails once.
impl UpcasterRegistration {
    /// The upcaster `name` (the function's path), written at `location`,
    /// that turns version `from` of the event described by `event` into
    /// version `from + 1` with `step`.
    #[must_use]
    pub const fn new(
        event: fn() -> &'static EventMeta,
        from: u32,
        step: Step,
        name: &'static str,
        location: SourceLocation,
    ) -> Self {
        Self {
            event,
            from,
            step,
            name,
            location,
        }
    }
}

inventory::collect!(UpcasterRegistration);

/// What an upcaster takes: `serde_json::Value` only. The generated code
/// passes the old JSON through it, spanned on the parameter's type, so a
/// parameter of another type is reported there (with a message of the
/// user's crate, which forwards to this trait).
#[doc(hidden)]
pub trait UpcastInput {
    /// The old JSON, as the parameter's type.
    fn from_json(json: serde_json::Value) -> Self;
}

impl UpcastInput for serde_json::Value {
    #[inline]
    fn from_json(json: serde_json::Value) -> Self {
        json
    }
}

/// What an upcaster may return: the new JSON, or `Result<Value, E>` where
/// `E` converts into a boxed error.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a valid upcaster return type",
    label = "upcasters return `serde_json::Value` or `Result<serde_json::Value, E>`",
    note = "return the event's JSON at the next version, or `Result<serde_json::Value, E>` where `E: Into<Box<dyn std::error::Error + Send + Sync>>`"
)]
pub trait IntoUpcastResult {
    /// Turns the upcaster's return value into the step's result.
    ///
    /// # Errors
    ///
    /// Returns the upcaster's error, boxed.
    fn into_upcast_result(self) -> Result<serde_json::Value, BoxError>;
}

impl IntoUpcastResult for serde_json::Value {
    #[inline]
    fn into_upcast_result(self) -> Result<serde_json::Value, BoxError> {
        Ok(self)
    }
}

// Keeps rustc on this trait's message when `E` is not an error type.
#[diagnostic::do_not_recommend]
impl<E: Into<BoxError>> IntoUpcastResult for Result<serde_json::Value, E> {
    #[inline]
    fn into_upcast_result(self) -> Result<serde_json::Value, BoxError> {
        self.map_err(Into::into)
    }
}

/// One registered upcaster, its event resolved.
#[derive(Clone, Copy)]
pub(crate) struct Upcaster {
    pub(crate) event: &'static EventMeta,
    pub(crate) from: u32,
    pub(crate) step: Step,
    pub(crate) name: &'static str,
    pub(crate) location: SourceLocation,
}

/// Every upcaster, by event name, each event's sorted by `from`.
pub(crate) struct Upcasters {
    // Ordered by name, so the first broken chain reported does not change
    // between runs.
    by_event: BTreeMap<&'static str, Vec<Upcaster>>,
}

impl Upcasters {
    /// The upcasters the linker kept, resolved on first use.
    pub(crate) fn get() -> &'static Upcasters {
        static UPCASTERS: OnceLock<Upcasters> = OnceLock::new();
        UPCASTERS.get_or_init(|| {
            Upcasters::new(inventory::iter::<UpcasterRegistration>.into_iter().map(
                |registration| Upcaster {
                    event: (registration.event)(),
                    from: registration.from,
                    step: registration.step,
                    name: registration.name,
                    location: registration.location,
                },
            ))
        })
    }

    pub(crate) fn new(upcasters: impl IntoIterator<Item = Upcaster>) -> Self {
        let mut by_event: BTreeMap<&'static str, Vec<Upcaster>> = BTreeMap::new();
        for upcaster in upcasters {
            by_event
                .entry(upcaster.event.name())
                .or_default()
                .push(upcaster);
        }
        for steps in by_event.values_mut() {
            // `inventory::iter` has no set order: duplicates are reported
            // in source order.
            steps.sort_by(|a, b| {
                a.from
                    .cmp(&b.from)
                    .then_with(|| a.location.file().cmp(b.location.file()))
                    .then_with(|| a.location.line().cmp(&b.location.line()))
                    .then_with(|| a.name.cmp(b.name))
            });
        }
        Self { by_event }
    }

    /// The steps of the event named `name`, sorted by `from`.
    fn steps(&self, name: &str) -> &[Upcaster] {
        self.by_event.get(name).map_or(&[], Vec::as_slice)
    }

    /// Brings `payload`, a record of `meta`'s event at `version`, up to
    /// the event's current version; see [`upcast`].
    pub(crate) fn upcast<'p>(
        &self,
        meta: &'static EventMeta,
        version: u32,
        payload: &'p [u8],
    ) -> Result<Cow<'p, [u8]>, UpcastError> {
        let (event, known) = (meta.name(), meta.version());
        if version == known {
            return Ok(Cow::Borrowed(payload));
        }
        if version > known {
            return Err(UpcastError::NewerVersion {
                event,
                version,
                known,
            });
        }
        let steps = self.steps(event);
        // The whole chain is found before the payload is read, so a
        // missing step is reported as such whatever the payload holds.
        let chain = (version..known)
            .map(|from| {
                steps
                    .binary_search_by_key(&from, |upcaster| upcaster.from)
                    .map(|at| &steps[at])
                    .map_err(|_| UpcastError::MissingStep { event, from })
            })
            .collect::<Result<Vec<&Upcaster>, UpcastError>>()?;
        let mut json: serde_json::Value =
            serde_json::from_slice(payload).map_err(|source| UpcastError::InvalidJson {
                event,
                version,
                source,
            })?;
        for upcaster in chain {
            json = (upcaster.step)(json).map_err(|source| UpcastError::Failed {
                event,
                from: upcaster.from,
                upcaster: upcaster.name,
                source,
            })?;
        }
        Ok(Cow::Owned(json.to_string().into_bytes()))
    }
}

/// Checks every event's upcasters: no two read the same version, none is
/// for a local event, and from the lowest version one reads up to the
/// event's current version, every version has one.
///
/// An upcaster reading the current version or a later one never compiles
/// (`#[upcast]` asserts `from < E::VERSION`), so it is not looked at here.
pub(crate) fn check_chains(upcasters: &Upcasters) -> Result<(), BuildError> {
    for steps in upcasters.by_event.values() {
        let Some(lowest) = steps.first() else {
            continue;
        };
        if let Some(local) = steps.iter().find(|upcaster| upcaster.event.is_local()) {
            return Err(BuildError::UpcasterOfLocalEvent {
                type_path: local.event.type_path(),
                upcaster: local.name,
                location: local.location,
            });
        }
        if let Some(pair) = steps.windows(2).find(|pair| pair[0].from == pair[1].from) {
            return Err(BuildError::DuplicateUpcaster {
                event: lowest.event.name(),
                from: pair[0].from,
                first: pair[0].name,
                first_location: pair[0].location,
                second: pair[1].name,
                second_location: pair[1].location,
            });
        }
        let meta = lowest.event;
        let missing = (lowest.from..meta.version()).find(|&from| {
            steps
                .binary_search_by_key(&from, |upcaster| upcaster.from)
                .is_err()
        });
        if let Some(missing) = missing {
            return Err(BuildError::MissingUpcaster {
                event: meta.name(),
                type_path: meta.type_path(),
                version: meta.version(),
                from: missing - 1,
                missing,
            });
        }
    }
    Ok(())
}

/// Brings `payload`, a record of `meta`'s event at `version`, up to the
/// event's current version with the registered upcasters.
///
/// A record already at the current version is handed back as it is, not
/// parsed; an older one is parsed as JSON, passed through each step from
/// `version` on, in order, and written back.
pub(crate) fn upcast<'p>(
    meta: &'static EventMeta,
    version: u32,
    payload: &'p [u8],
) -> Result<Cow<'p, [u8]>, UpcastError> {
    Upcasters::get().upcast(meta, version, payload)
}

/// A message with a number in it, written at compile time, for the const
/// assertion `#[upcast]` makes (`panic!` in a const cannot format a
/// number): the text, then the number in decimal. `N` must hold both, so
/// the text's length plus 10.
#[doc(hidden)]
pub struct VersionMessage<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> VersionMessage<N> {
    /// `text` followed by `number`; cut short if `N` is too small.
    #[must_use]
    pub const fn new(text: &str, number: u32) -> Self {
        let mut bytes = [0; N];
        let text = text.as_bytes();
        let mut len = 0;
        while len < text.len() && len < N {
            bytes[len] = text[len];
            len += 1;
        }
        let mut digits = [0; 10];
        let mut count = 0;
        let mut rest = number;
        loop {
            // `rest % 10` is a single digit.
            #[allow(clippy::cast_possible_truncation)]
            let digit = (rest % 10) as u8;
            digits[count] = b'0' + digit;
            count += 1;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        while count > 0 && len < N {
            count -= 1;
            bytes[len] = digits[count];
            len += 1;
        }
        Self { bytes, len }
    }

    /// The message; empty if it was cut inside a character.
    #[must_use]
    pub const fn as_str(&self) -> &str {
        match std::str::from_utf8(self.bytes.split_at(self.len).0) {
            Ok(text) => text,
            Err(_) => "",
        }
    }
}

#[cfg(test)]
mod tests {
    use std::any::Any;
    use std::borrow::Cow;

    use serde_json::json;

    use super::{check_chains, Step, Upcaster, Upcasters, VersionMessage};
    use crate::error::{BuildError, UpcastError};
    use crate::handler::{BoxError, SourceLocation};
    use crate::meta::{Codec, EventMeta};

    fn no_json(_: &dyn Any) -> Option<serde_json::Value> {
        None
    }

    fn no_encode(_: &dyn Any) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(&())
    }

    fn no_decode(json: &[u8]) -> Result<Box<dyn Any + Send>, serde_json::Error> {
        serde_json::from_slice::<()>(json).map(|()| Box::new(()) as Box<dyn Any + Send>)
    }

    const CODEC: Codec = Codec {
        to_json: no_json,
        encode: no_encode,
        decode: no_decode,
    };

    static ORDER_PLACED: EventMeta =
        EventMeta::new("shop.order_placed", 3, "shop::OrderPlaced", CODEC, &());
    static DRAFT: EventMeta = EventMeta::local("shop.draft", 2, "shop::Draft", &());

    /// v1 had `total` in whole units.
    fn v1(mut old: serde_json::Value) -> Result<serde_json::Value, BoxError> {
        let total = old["total"].as_u64().ok_or("`total` is not a number")?;
        let object = old.as_object_mut().ok_or("not an object")?;
        object.remove("total");
        object.insert("total_cents".into(), json!(total * 100));
        Ok(old)
    }

    /// v2 had no currency.
    fn v2(mut old: serde_json::Value) -> Result<serde_json::Value, BoxError> {
        old["currency"] = json!("EUR");
        Ok(old)
    }

    fn refuse(_: serde_json::Value) -> Result<serde_json::Value, BoxError> {
        Err("the total is negative".into())
    }

    fn upcaster(event: &'static EventMeta, from: u32, step: Step, name: &'static str) -> Upcaster {
        Upcaster {
            event,
            from,
            step,
            name,
            location: SourceLocation::new("src/shop.rs", 10 * from, 1),
        }
    }

    fn complete() -> Upcasters {
        // Given out of order, as `inventory::iter` may.
        Upcasters::new([
            upcaster(&ORDER_PLACED, 2, v2, "shop::v2"),
            upcaster(&ORDER_PLACED, 1, v1, "shop::v1"),
        ])
    }

    #[test]
    fn a_complete_chain_passes() {
        assert!(check_chains(&complete()).is_ok());
    }

    #[test]
    fn no_upcasters_at_all_pass() {
        assert!(check_chains(&Upcasters::new([])).is_ok());
    }

    #[test]
    fn a_chain_may_start_above_version_1() {
        let upcasters = Upcasters::new([upcaster(&ORDER_PLACED, 2, v2, "shop::v2")]);
        assert!(check_chains(&upcasters).is_ok());
    }

    #[test]
    fn a_gap_names_the_event_and_the_missing_step() {
        let upcasters = Upcasters::new([upcaster(&ORDER_PLACED, 1, v1, "shop::v1")]);
        let error = check_chains(&upcasters).expect_err("version 2 has no upcaster");
        assert_eq!(
            error.to_string(),
            "event `shop.order_placed` is at version 3 and has an upcaster from version 1, but \
             none from version 2: add `#[upcast(event = shop::OrderPlaced, from = 2)]`"
        );
        assert!(matches!(
            error,
            BuildError::MissingUpcaster {
                event: "shop.order_placed",
                type_path: "shop::OrderPlaced",
                version: 3,
                from: 1,
                missing: 2,
            }
        ));
    }

    #[test]
    fn two_upcasters_from_one_version_are_named_with_their_places() {
        let upcasters = Upcasters::new([
            upcaster(&ORDER_PLACED, 1, v1, "shop::v1"),
            upcaster(&ORDER_PLACED, 2, refuse, "shop::v2_again"),
            Upcaster {
                location: SourceLocation::new("src/shop.rs", 5, 1),
                ..upcaster(&ORDER_PLACED, 2, v2, "shop::v2")
            },
        ]);
        let error = check_chains(&upcasters).expect_err("two upcasters from version 2");
        assert_eq!(
            error.to_string(),
            "event `shop.order_placed` has two upcasters from version 2: `shop::v2` \
             (src/shop.rs:5) and `shop::v2_again` (src/shop.rs:20); remove one of them"
        );
    }

    #[test]
    fn an_upcaster_of_a_local_event_is_refused() {
        let upcasters = Upcasters::new([upcaster(&DRAFT, 1, v2, "shop::draft_v1")]);
        let error = check_chains(&upcasters).expect_err("local events are never upcast");
        assert_eq!(
            error.to_string(),
            "the upcaster `shop::draft_v1` (src/shop.rs:10) is for `shop::Draft`, which is \
             `#[event(local)]`: a local event is never read from a record, so nothing would call \
             it; remove the upcaster, or remove `#[event(local)]`"
        );
    }

    #[test]
    fn a_record_at_the_current_version_is_handed_back_unparsed() {
        let payload = b"not even JSON";
        let upcast = complete()
            .upcast(&ORDER_PLACED, 3, payload)
            .expect("nothing to do");
        assert!(matches!(upcast, Cow::Borrowed(bytes) if bytes.as_ptr() == payload.as_ptr()));
    }

    #[test]
    fn the_steps_run_in_order_from_the_record_version() {
        let upcasters = complete();
        let from_1 = upcasters
            .upcast(&ORDER_PLACED, 1, br#"{"order":7,"total":12}"#)
            .expect("1 -> 2 -> 3");
        assert_eq!(
            std::str::from_utf8(&from_1),
            Ok(r#"{"currency":"EUR","order":7,"total_cents":1200}"#)
        );
        let from_2 = upcasters
            .upcast(&ORDER_PLACED, 2, br#"{"order":7,"total_cents":5}"#)
            .expect("2 -> 3");
        assert_eq!(
            std::str::from_utf8(&from_2),
            Ok(r#"{"currency":"EUR","order":7,"total_cents":5}"#)
        );
    }

    #[test]
    fn a_record_newer_than_the_program_is_refused() {
        let error = complete()
            .upcast(&ORDER_PLACED, 4, b"{}")
            .expect_err("version 4 is unknown here");
        assert_eq!(
            error.to_string(),
            "the record of event `shop.order_placed` is at version 4, but this program knows it \
             only up to version 3; read it with a build that knows version 4"
        );
        assert!(matches!(
            error,
            UpcastError::NewerVersion {
                event: "shop.order_placed",
                version: 4,
                known: 3,
            }
        ));
    }

    #[test]
    fn a_version_below_the_chain_is_a_missing_step() {
        let upcasters = Upcasters::new([upcaster(&ORDER_PLACED, 2, v2, "shop::v2")]);
        let error = upcasters
            .upcast(&ORDER_PLACED, 1, b"{}")
            .expect_err("no upcaster from 1");
        assert_eq!(
            error.to_string(),
            "no upcaster turns event `shop.order_placed` from version 1 into version 2: add a \
             function with `#[upcast(event = .., from = 1)]`"
        );
        let none = Upcasters::new([])
            .upcast(&ORDER_PLACED, 2, b"not JSON")
            .expect_err("no upcasters at all");
        assert!(matches!(
            none,
            UpcastError::MissingStep {
                event: "shop.order_placed",
                from: 2,
            }
        ));
    }

    #[test]
    fn a_payload_that_is_not_json_is_reported_with_its_version() {
        let error = complete()
            .upcast(&ORDER_PLACED, 1, b"{\"order\":")
            .expect_err("not JSON");
        assert_eq!(
            error.to_string(),
            "the record of event `shop.order_placed` at version 1 is not valid JSON: EOF while \
             parsing a value at line 1 column 9"
        );
        assert!(matches!(
            error,
            UpcastError::InvalidJson {
                event: "shop.order_placed",
                version: 1,
                ..
            }
        ));
    }

    #[test]
    fn a_failing_step_names_the_upcaster_and_keeps_its_error() {
        let upcasters = Upcasters::new([
            upcaster(&ORDER_PLACED, 1, v1, "shop::v1"),
            upcaster(&ORDER_PLACED, 2, refuse, "shop::refuse"),
        ]);
        let error = upcasters
            .upcast(&ORDER_PLACED, 1, br#"{"total":1}"#)
            .expect_err("the second step fails");
        assert_eq!(
            error.to_string(),
            "the upcaster `shop::refuse` failed to turn event `shop.order_placed` from version 2 \
             into version 3: the total is negative"
        );
        let source = std::error::Error::source(&error).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("the total is negative"));
    }

    #[test]
    fn the_process_wide_upcasters_are_those_the_linker_kept() {
        // This test binary has no `#[upcast]` function.
        let current = super::upcast(&ORDER_PLACED, 3, b"{}").expect("nothing to do");
        assert!(matches!(current, Cow::Borrowed(b"{}")));
        let old = super::upcast(&ORDER_PLACED, 1, b"{}").expect_err("no upcaster");
        assert!(matches!(old, UpcastError::MissingStep { from: 1, .. }));
        assert!(check_chains(Upcasters::get()).is_ok());
    }

    #[test]
    fn a_version_message_ends_with_the_number() {
        const TEXT: &str = "must be below its version ";
        assert_eq!(
            VersionMessage::<{ TEXT.len() + 10 }>::new(TEXT, 3).as_str(),
            "must be below its version 3"
        );
        assert_eq!(
            VersionMessage::<{ TEXT.len() + 10 }>::new(TEXT, u32::MAX).as_str(),
            "must be below its version 4294967295"
        );
        assert_eq!(VersionMessage::<4>::new("v", 0).as_str(), "v0");
    }
}
