//! The procedural macros of eventbus: `#[derive(Event)]`, `#[subscribe]`
//! and `#[upcast]`.
//!
//! Use them through the `eventbus` crate, which documents them; this crate
//! is an implementation detail and is pinned to the exact version of
//! `eventbus` that re-exports it.
//!
//! Each macro is one pipeline, one file per stage: `attr` reads the
//! options, `parse` turns the item into a small model, `validate` checks
//! it, `expand` writes the code. Errors are collected, not returned at the
//! first one, so the user sees all of them at once.

#![forbid(unsafe_code)]

mod ctxt;
mod event;
mod names;
mod options;
mod root;
mod subscribe;
mod upcast;

use proc_macro::TokenStream;

// The docs users read are on the `eventbus` re-exports. rustdoc appends
// an item's own docs to those of an inlined re-export, so each macro's
// one line here exists only on this crate's pages (`cfg(doc)`), not
// repeated at the end of the `eventbus` docs.
#[cfg_attr(
    doc,
    doc = "Implements `Event` for a struct or enum and registers it by name."
)]
#[cfg_attr(not(doc), allow(missing_docs))]
#[proc_macro_derive(Event, attributes(event))]
pub fn derive_event(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    event::derive(&input).into()
}

#[cfg_attr(
    doc,
    doc = "Registers a free function as a handler of the event it takes."
)]
#[cfg_attr(not(doc), allow(missing_docs))]
#[proc_macro_attribute]
pub fn subscribe(args: TokenStream, item: TokenStream) -> TokenStream {
    subscribe::expand(args.into(), item.into()).into()
}

#[cfg_attr(
    doc,
    doc = "Registers a function that turns an event's JSON from one version into the next."
)]
#[cfg_attr(not(doc), allow(missing_docs))]
#[proc_macro_attribute]
pub fn upcast(args: TokenStream, item: TokenStream) -> TokenStream {
    upcast::expand(args.into(), item.into()).into()
}
