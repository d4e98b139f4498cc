//! What a handler must be: its signature, how it takes the event, and the
//! rules that tie its options to them.

use crate::ctxt::Ctxt;

use super::attr::{Mode, SubscribeAttrs};
use super::parse::Handler;

/// Checks the whole handler, in the order the user reads it: the
/// signature, then the event parameter, then the options.
pub fn check(
    cx: &Ctxt,
    sig: &syn::Signature,
    handler: Option<&Handler<'_>>,
    attrs: &SubscribeAttrs,
) {
    check_signature(cx, sig);
    if let Some(handler) = handler {
        // The options are judged against a usable event parameter only.
        if check_event_param(cx, handler) {
            check_options(cx, handler, attrs, sig);
        }
    }
}

fn check_signature(cx: &Ctxt, sig: &syn::Signature) {
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

/// Whether the first parameter is `&E`: a shared reference without a
/// lifetime to one named type. Records an error when it is not.
fn check_event_param(cx: &Ctxt, handler: &Handler<'_>) -> bool {
    let syn::Type::Reference(reference) = handler.event_param else {
        let ty = handler.event_param;
        let event = smart_pointee(ty).unwrap_or(ty);
        cx.error_spanned_by(
            ty,
            format!(
                "take the event by reference: write `&{}`; the bus lends each event to every handler",
                display(event)
            ),
        );
        return false;
    };
    if let Some(mutability) = reference.mutability {
        cx.error_spanned_by(
            mutability,
            "take the event by shared reference, `&E`, not `&mut E`: every handler sees the same event",
        );
        return false;
    }
    if let Some(lifetime) = &reference.lifetime {
        cx.error_spanned_by(
            lifetime,
            format!(
                "remove the lifetime: write `&{}`; the bus lends the event only for the call",
                display(&reference.elem)
            ),
        );
        return false;
    }
    if let syn::Type::ImplTrait(bounds) = &*reference.elem {
        cx.error_spanned_by(
            bounds,
            "a handler takes one event type: write `&OrderPlaced`, or `&AnyEvent` to see every event",
        );
        return false;
    }
    if let Some(event) = smart_pointee(&reference.elem) {
        cx.error_spanned_by(
            &reference.elem,
            format!(
                "take the event itself by reference: write `&{}`; the bus owns the event and lends it to every handler",
                display(event)
            ),
        );
        return false;
    }
    true
}

/// Rules that tie the options to the signature.
fn check_options(cx: &Ctxt, handler: &Handler<'_>, attrs: &SubscribeAttrs, sig: &syn::Signature) {
    let catch_all = handler.catch_all.is_some();
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

/// `T` in `Box<T>`, `Arc<T>` or `Rc<T>`.
fn smart_pointee(ty: &syn::Type) -> Option<&syn::Type> {
    let syn::Type::Path(path) = ty else {
        return None;
    };
    let last = path.path.segments.last()?;
    if !matches!(last.ident.to_string().as_str(), "Box" | "Arc" | "Rc") {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        syn::GenericArgument::Type(inner) if args.args.len() == 1 => Some(inner),
        _ => None,
    }
}

/// A type as a user writes it: `shop::Order<'a>`, not `shop :: Order < 'a >`.
fn display(ty: &syn::Type) -> String {
    let spaced = quote::ToTokens::to_token_stream(ty).to_string();
    let mut out = String::with_capacity(spaced.len());
    let mut chars = spaced.chars().peekable();
    while let Some(c) = chars.next() {
        let next = chars.peek().copied();
        let prev = out.chars().last();
        let glue = c == ' '
            && (matches!(next, Some(':' | '<' | '>' | ',' | ')' | ']'))
                || matches!(prev, Some(':' | '<' | '&' | '(' | '[')));
        if !glue {
            out.push(c);
        }
    }
    out
}
