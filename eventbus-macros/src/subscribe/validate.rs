//! What a handler's signature must be, beyond its first parameter.

use crate::ctxt::Ctxt;

use super::attr::{Mode, SubscribeAttrs};
use super::parse::{Handler, Target};

pub fn check_signature(cx: &Ctxt, sig: &syn::Signature) {
    let name = &sig.ident;
    if let syn::Safety::Unsafe(unsafety) = sig.safety {
        cx.error_spanned_by(
            unsafety,
            "a handler cannot be an `unsafe fn`: the bus calls it on every event; \
             make it safe and put the `unsafe` block inside",
        );
    }
    let only_lifetimes = sig
        .generics
        .params
        .iter()
        .all(|param| matches!(param, syn::GenericParam::Lifetime(_)));
    if !sig.generics.params.is_empty() && only_lifetimes {
        cx.error_spanned_by(
            &sig.generics.params,
            "a handler cannot declare lifetimes: the bus lends the event only for the call; \
             remove them and write the event as `&OrderPlaced`",
        );
    } else if !sig.generics.params.is_empty() {
        cx.error_spanned_by(
            &sig.generics.params,
            "a handler cannot be generic: it is registered once, for one event type; \
             write one handler per event type, or take `&AnyEvent` to see every event",
        );
    } else if let Some(clause) = &sig.generics.where_clause {
        cx.error_spanned_by(clause, "a handler cannot have a `where` clause; remove it");
    }
    if let Some(variadic) = &sig.variadic {
        cx.error_spanned_by(variadic, "a handler cannot be variadic");
    }

    let mut inputs = sig.inputs.iter();
    let first = inputs.next();
    match first {
        None => cx.error_spanned_by(
            &sig.ident,
            format!(
                "a handler takes the event it handles as its first parameter, \
                 e.g. `fn {name}(event: &OrderPlaced)`"
            ),
        ),
        Some(syn::FnArg::Receiver(receiver)) => cx.error_spanned_by(
            receiver,
            format!(
                "`#[subscribe]` works on free functions only: move `{name}` out of the `impl` block, \
                 e.g. `fn {name}(event: &OrderPlaced)`"
            ),
        ),
        Some(syn::FnArg::Typed(_)) => {}
    }
    if matches!(first, Some(syn::FnArg::Receiver(_))) {
        // Moving the function out of the `impl` is the fix; its other
        // parameters are judged once it is free.
        return;
    }
    for extra in inputs {
        if let syn::FnArg::Receiver(receiver) = extra {
            cx.error_spanned_by(receiver, "`self` can only be the first parameter");
        }
    }
}

/// Rules that tie the options to the signature.
pub fn check_options(
    cx: &Ctxt,
    handler: &Handler<'_>,
    attrs: &SubscribeAttrs,
    sig: &syn::Signature,
) {
    let catch_all = !matches!(handler.target, Target::Event(_));
    if let (Some(asyncness), true) = (sig.asyncness, catch_all) {
        cx.error_spanned_by(
            asyncness,
            "`&AnyEvent` and `&DeadEvent` handlers run inline and cannot be `async`; \
             make the handler a plain `fn` and spawn from it if needed",
        );
    }
    if let Some(timeout) = &attrs.timeout_ms {
        if sig.asyncness.is_none() && attrs.mode != Mode::Blocking {
            cx.error_spanned_by(
                timeout,
                "`timeout_ms` applies to async and blocking handlers: a plain `fn` running on the \
                 publishing thread cannot be stopped; make it an `async fn`, or add \
                 `mode = \"blocking\"`",
            );
        }
    }
    if let (Some(filter), true) = (&attrs.filter, catch_all) {
        cx.error_spanned_by(
            filter,
            "`filter` applies to handlers of one event type; `&AnyEvent` and `&DeadEvent` \
             handlers can check the event themselves",
        );
    }
    if let Some(token) = &attrs.mode_token {
        if sig.asyncness.is_some() && attrs.mode == Mode::Blocking {
            cx.error_spanned_by(
                token,
                "`mode = \"blocking\"` runs a plain `fn` on the blocking pool; an `async fn` \
                 never blocks: remove the mode, or make the handler a plain `fn`",
            );
        } else if catch_all && attrs.mode != Mode::Inline {
            cx.error_spanned_by(
                token,
                "`&AnyEvent` and `&DeadEvent` handlers always run inline; remove the mode",
            );
        }
    }
}
