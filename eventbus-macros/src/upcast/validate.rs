//! What an upcaster must be: its options, and a signature the bus can
//! call as a step from one version's JSON to the next.

use proc_macro2::Span;

use crate::ctxt::Ctxt;

use super::attr::{UpcastAttrs, EXAMPLE};

/// Checks the whole upcaster, in the order the user reads it: the
/// attribute, then the signature.
pub fn check(cx: &Ctxt, sig: &syn::Signature, attrs: &UpcastAttrs) {
    check_options(cx, attrs);
    check_signature(cx, sig);
}

/// The options every upcaster needs.
fn check_options(cx: &Ctxt, attrs: &UpcastAttrs) {
    if !attrs.read_whole {
        return;
    }
    // The attribute itself: the place to add what is missing.
    let attribute = Span::call_site();
    if !attrs.has("event") {
        cx.syn_error(syn::Error::new(
            attribute,
            format!("`#[upcast]` needs `event = ..`, the event type it upgrades, e.g. `{EXAMPLE}`"),
        ));
    }
    if !attrs.has("from") {
        cx.syn_error(syn::Error::new(
            attribute,
            format!(
                "`#[upcast]` needs `from = N`, the version the function reads, e.g. `{EXAMPLE}`"
            ),
        ));
    }
}

fn check_signature(cx: &Ctxt, sig: &syn::Signature) {
    let name = &sig.ident;
    let shape = format!("fn {name}(old: serde_json::Value) -> serde_json::Value");
    if let Some(asyncness) = sig.asyncness {
        cx.error_spanned_by(
            asyncness,
            "an upcaster cannot be `async`: it runs while a record is read, and turns JSON into \
             JSON; make it a plain `fn`",
        );
    }
    if let syn::Safety::Unsafe(unsafety) = sig.safety {
        cx.error_spanned_by(
            unsafety,
            "an upcaster cannot be an `unsafe fn`: the bus calls it on every old record; \
             make it safe and put the `unsafe` block inside",
        );
    }
    if !sig.generics.params.is_empty() {
        cx.error_spanned_by(
            &sig.generics.params,
            format!(
                "an upcaster cannot be generic: it turns one version of one event into the \
                 next; remove the generic parameters, e.g. `{shape}`"
            ),
        );
    } else if let Some(clause) = &sig.generics.where_clause {
        cx.error_spanned_by(
            clause,
            "an upcaster cannot have a `where` clause; remove it",
        );
    }

    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        None => cx.error_spanned_by(
            name,
            format!("an upcaster takes the event's old JSON as its one parameter, e.g. `{shape}`"),
        ),
        Some(syn::FnArg::Receiver(receiver)) => {
            cx.error_spanned_by(
                receiver,
                format!(
                    "`#[upcast]` works on free functions only: move `{name}` out of the `impl` \
                     block, e.g. `{shape}`"
                ),
            );
            // Moving the function out of the `impl` is the fix; its other
            // parameters are judged once it is free.
            return;
        }
        Some(syn::FnArg::Typed(param)) => {
            if let syn::Type::Reference(reference) = &*param.ty {
                cx.error_spanned_by(
                    reference,
                    "take the old JSON by value, `serde_json::Value`: the upcaster owns it and \
                     returns the new JSON, which may reuse it",
                );
            }
        }
    }
    let extra: Vec<&syn::FnArg> = inputs.collect();
    if !extra.is_empty() {
        cx.error_spanned_by(
            quote::quote!(#(#extra),*),
            format!(
                "an upcaster takes one parameter, the event's old JSON: remove the others, \
                 e.g. `{shape}`"
            ),
        );
    }
}
