//! What an event type must be, beyond its options.

use crate::ctxt::Ctxt;

pub fn check(cx: &Ctxt, input: &syn::DeriveInput) {
    if let syn::Data::Union(data) = &input.data {
        cx.error_spanned_by(
            data.union_token,
            "a union cannot be an event: handlers could not read it safely; use a struct or an enum",
        );
    }
    let generics = &input.generics;
    if !generics.params.is_empty() {
        cx.error_spanned_by(
            &generics.params,
            "an event type cannot be generic: each event type is registered once, by name; \
             define one non-generic type per event, e.g. `struct PriceChanged { .. }`",
        );
    } else if let Some(clause) = &generics.where_clause {
        cx.error_spanned_by(
            clause,
            "an event type cannot have a `where` clause; remove it",
        );
    }
}

/// Whether a stub `Event` impl may be added to the errors, so uses of the
/// type do not fail a second time with "not an event".
pub fn can_stub(input: &syn::DeriveInput) -> bool {
    !matches!(input.data, syn::Data::Union(_)) && input.generics.params.is_empty()
}
