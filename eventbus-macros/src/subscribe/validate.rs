//! What a handler's signature must be, beyond its first parameter.

use crate::ctxt::Ctxt;

pub fn check_signature(cx: &Ctxt, sig: &syn::Signature) {
    let name = &sig.ident;
    if let Some(asyncness) = sig.asyncness {
        cx.error_spanned_by(
            asyncness,
            "`#[subscribe]` does not take `async fn` handlers yet; make the handler a plain `fn`",
        );
    }
    if let syn::Safety::Unsafe(unsafety) = sig.safety {
        cx.error_spanned_by(
            unsafety,
            "a handler cannot be an `unsafe fn`: the bus calls it on every event; \
             make it safe and put the `unsafe` block inside",
        );
    }
    if !sig.generics.params.is_empty() {
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
        cx.error_spanned_by(
            extra,
            "a handler takes one parameter, the event (`&E`); remove this one",
        );
    }
}
