//! The registration `#[upcast]` writes beside the function.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use crate::names::Taken;

use super::parse::Upcaster;

/// What a type that is no event is told. The note is the `Event` trait's
/// own: rustc reports the serde check's failure on such a type with that
/// note, and merges the two errors only when they are word for word the
/// same.
const NOT_AN_EVENT: &str = "`{Self}` is not an event type";
const NOT_AN_EVENT_LABEL: &str = "not an event";
const NOT_AN_EVENT_NOTE: &str = "an event is a type with `#[derive(Event)]`";

/// What a parameter of another type than `serde_json::Value` is told.
const NOT_JSON: &str = "an upcaster takes the old JSON as `serde_json::Value`, not `{Self}`";
const NOT_JSON_LABEL: &str = "write `serde_json::Value`";
const NOT_JSON_NOTE: &str = "to read the old JSON as a type of your own, take \
     `serde_json::Value` and call `serde_json::from_value(old)` inside";

pub fn registration(upcaster: &Upcaster<'_>) -> TokenStream {
    let Upcaster {
        ident,
        event,
        from,
        param,
        root,
        ..
    } = upcaster;
    let mut taken = Taken::default();
    taken.add(ident);
    taken.add(event);
    taken.add(param);
    taken.add(root);
    let upcastable = taken.fresh("Upcastable");
    let serde_event = taken.fresh("SerdeEvent");
    let old_json = taken.fresh("OldJson");
    let serde_trait = crate::event::serde_event_trait(root, &serde_event);

    // Every use is spanned on the event type, so "not an event" and a
    // missing serde derive are reported there; rustc merges the identical
    // errors of the uses into one.
    let meta = quote_spanned! {event.span()=> <#event as #upcastable>::META };
    // Through `Upcastable::Event`: a type that is no event is then told
    // only that.
    let codec = quote_spanned! {event.span()=>
        <<#event as #upcastable>::Event as #serde_event>::CODEC
    };
    let below_version = below_version(upcaster, &upcastable);
    let step = step(upcaster, &old_json);
    let ident_str = syn::ext::IdentExt::unraw(*ident).to_string();
    let location = quote_spanned! {ident.span()=>
        #root::__private::SourceLocation::new(::core::file!(), ::core::line!(), ::core::column!())
    };
    let json = quote!(#root::__private::serde_json::Value);
    quote! {
        const _: () = {
            #[diagnostic::on_unimplemented(
                message = #NOT_AN_EVENT,
                label = #NOT_AN_EVENT_LABEL,
                note = #NOT_AN_EVENT_NOTE,
            )]
            trait #upcastable {
                type Event;
                const META: fn() -> &'static #root::__private::EventMeta;
                const VERSION: u32;
            }

            // Reported as the trait above, not as `Event` and its supertraits.
            #[diagnostic::do_not_recommend]
            impl<__E: #root::Event> #upcastable for __E {
                type Event = __E;
                const META: fn() -> &'static #root::__private::EventMeta =
                    <__E as #root::Event>::__meta;
                const VERSION: u32 = <__E as #root::Event>::VERSION;
            }

            #serde_trait

            const _: #root::__private::Codec = #codec;

            #[diagnostic::on_unimplemented(
                message = #NOT_JSON,
                label = #NOT_JSON_LABEL,
                note = #NOT_JSON_NOTE,
            )]
            trait #old_json {
                fn from_json(json: #json) -> Self;
            }

            // Reported as the trait above, not as the one it forwards to.
            #[diagnostic::do_not_recommend]
            impl<__T: #root::__private::UpcastInput> #old_json for __T {
                fn from_json(json: #json) -> Self {
                    <__T as #root::__private::UpcastInput>::from_json(json)
                }
            }

            #below_version

            #step

            #root::__private::inventory::submit! {
                #root::__private::UpcasterRegistration::new(
                    #meta,
                    #from,
                    __eventbus_step,
                    ::core::concat!(::core::module_path!(), "::", #ident_str),
                    #location,
                )
            }
        };
    }
}

/// The const assertion that `from` is below the event's version, reported
/// on `N` in `from = N`.
fn below_version(upcaster: &Upcaster<'_>, upcastable: &syn::Ident) -> TokenStream {
    let Upcaster {
        event,
        from,
        from_token,
        root,
        ..
    } = upcaster;
    let version = quote_spanned! {event.span()=> <#event as #upcastable>::VERSION };
    // `panic!` in a const cannot format a number: the message is written
    // by a const fn, with room for the text and ten digits.
    let text = format!(
        "`#[upcast(from = {from})]` on `{}` must be below its version ",
        path_of(event)
    );
    let room = text.len() + 10;
    quote_spanned! {from_token.span()=>
        const _: () = if #from >= #version {
            ::core::panic!(
                "{}",
                #root::__private::VersionMessage::<#room>::new(#text, #version).as_str()
            )
        };
    }
}

/// The step the bus calls, `__eventbus_step`: the function, its argument
/// passed through `old_json` and its result made a `Result` through
/// `IntoUpcastResult`.
///
/// The parameter is bound and read under one span, the parameter type's,
/// so hygiene resolves it also when the function comes from a
/// `macro_rules!`. Each conversion is spanned on the type it checks, the
/// parameter's or the return type, so a wrong one is reported there.
fn step(upcaster: &Upcaster<'_>, old_json: &syn::Ident) -> TokenStream {
    let Upcaster {
        ident,
        param,
        output_span,
        root,
        ..
    } = upcaster;
    let json = quote!(#root::__private::serde_json::Value);
    let old = syn::Ident::new("__eventbus_old", param.span());
    let input = quote_spanned! {param.span()=> <#param as #old_json>::from_json(#old) };
    let result = syn::Ident::new("__eventbus_result", *output_span);
    let convert = quote_spanned! {*output_span=>
        #root::__private::IntoUpcastResult::into_upcast_result(#result)
    };
    quote! {
        fn __eventbus_step(
            #old: #json,
        ) -> ::core::result::Result<#json, #root::__private::BoxError> {
            let #result = #ident(#input);
            #convert
        }
    }
}

/// An event type path as written, without spaces: `shop::OrderPlaced`.
fn path_of(event: &syn::Path) -> String {
    let segments: Vec<String> = event
        .segments
        .iter()
        .map(|segment| syn::ext::IdentExt::unraw(&segment.ident).to_string())
        .collect();
    let leading = if event.leading_colon.is_some() {
        "::"
    } else {
        ""
    };
    format!("{leading}{}", segments.join("::"))
}
