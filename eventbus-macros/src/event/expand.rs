//! The code `#[derive(Event)]` writes.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};

use crate::names::Taken;
use crate::root::Root;

use super::parse::Model;

pub fn event_impl(model: &Model) -> TokenStream {
    let Model {
        ident,
        name,
        version,
        local,
        root,
    } = model;
    let ident_str = syn::ext::IdentExt::unraw(ident).to_string();
    let path = quote!(::core::concat!(::core::module_path!(), "::", #ident_str));
    let (serde_check, meta) = if *local {
        let meta = quote! {
            #root::__private::EventMeta::local(#name, #version, #path, &__EVENTBUS_FNS)
        };
        (TokenStream::new(), meta)
    } else {
        let mut taken = Taken::default();
        taken.add(ident);
        taken.add(root);
        let serde_event = taken.fresh("SerdeEvent");
        // Spanned on the type's name, so a missing `Serialize` points there.
        let codec = quote_spanned! {ident.span()=> <#ident as #serde_event>::CODEC };
        let check = serde_event_trait(root, &serde_event);
        let meta = quote! {
            #root::__private::EventMeta::new(#name, #version, #path, #codec, &__EVENTBUS_FNS)
        };
        (check, meta)
    };
    quote! {
        const _: () = {
            #serde_check

            static __EVENTBUS_FNS: #root::__private::EventFns =
                #root::__private::event_fns::<#ident>();
            static __EVENTBUS_META: #root::__private::EventMeta = #meta;
            static __EVENTBUS_ROUTE: #root::__private::SharedRoute<#ident> =
                #root::__private::SharedRoute::new();

            #[automatically_derived]
            impl #root::Event for #ident {
                const NAME: &'static str = #name;
                const VERSION: u32 = #version;

                #[inline]
                fn __meta() -> &'static #root::__private::EventMeta {
                    &__EVENTBUS_META
                }

                #[inline]
                fn __route() -> &'static #root::__private::SharedRoute<Self> {
                    &__EVENTBUS_ROUTE
                }
            }

            #root::__private::inventory::submit! {
                #root::__private::EventRegistration::new(&__EVENTBUS_META)
            }
        };
    }
}

/// A trait of the user's crate named `serde_event`, implemented by every
/// event that can be written as JSON and read back; its `CODEC` is the
/// event's. Naming an event through it reports a missing serde derive with
/// the message below.
pub fn serde_event_trait(root: &Root, serde_event: &syn::Ident) -> TokenStream {
    quote! {
        #[diagnostic::on_unimplemented(
            message = #NO_SERDE,
            label = #NO_SERDE_LABEL,
            note = #NO_SERDE_NOTE,
        )]
        trait #serde_event {
            const CODEC: #root::__private::Codec;
        }

        // Reported as the trait above, not as the serde traits it needs.
        #[diagnostic::do_not_recommend]
        impl<__E: #root::__private::SerdeEvent> #serde_event for __E {
            const CODEC: #root::__private::Codec =
                <__E as #root::__private::SerdeEvent>::CODEC;
        }
    }
}

/// What an event that is not local and has no serde derives is told. The
/// trait that says it belongs to the user's crate, so the error names it
/// and not one inside `eventbus::__private`.
const NO_SERDE: &str = "the event `{Self}` cannot be stored or sent: it does not implement \
     `serde::Serialize` and `serde::Deserialize`";
const NO_SERDE_LABEL: &str = "needs `Serialize` and `Deserialize`";
const NO_SERDE_NOTE: &str = "add `#[derive(serde::Serialize, serde::Deserialize)]` to `{Self}`, \
     or mark it `#[event(local)]` if it never leaves this process";

/// A stub impl emitted beside the errors, so the type's other uses do not
/// also fail with "not an event type".
pub fn fallback(model: &Model) -> TokenStream {
    let Model { ident, root, .. } = model;
    quote! {
        const _: () = {
            #[automatically_derived]
            impl #root::Event for #ident {
                const NAME: &'static str = "";
                const VERSION: u32 = 0;

                fn __meta() -> &'static #root::__private::EventMeta {
                    ::core::unreachable!("this event type failed to compile")
                }

                fn __route() -> &'static #root::__private::SharedRoute<Self> {
                    ::core::unreachable!("this event type failed to compile")
                }
            }
        };
    }
}
