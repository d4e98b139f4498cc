//! The code `#[derive(Event)]` writes.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};

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
    let constructor = if *local { quote!(local) } else { quote!(new) };
    // Spanned on the type's name, so a missing `Serialize` points there.
    let meta = quote_spanned! {ident.span()=>
        #root::__private::EventMeta::#constructor::<#ident>(
            #name,
            #version,
            ::core::concat!(::core::module_path!(), "::", #ident_str),
        )
    };
    quote! {
        const _: () = {
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
