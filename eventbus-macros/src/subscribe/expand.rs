//! The registration `#[subscribe]` writes beside the function.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::parse::{Handler, Target};

pub fn registration(handler: &Handler<'_>) -> TokenStream {
    let Handler {
        ident,
        target,
        output_span,
        priority,
        name,
        root,
    } = handler;
    let ident_str = ident.to_string();

    // Bound and read under one span, so hygiene resolves it also when the
    // handler itself comes from a `macro_rules!`; spanned on the return
    // type, so a wrong one is reported there.
    let result = syn::Ident::new("__eventbus_result", *output_span);
    let convert = quote_spanned! {*output_span=>
        #root::__private::IntoHandlerResult::into_handler_result(#result)
    };
    let handler_name = if let Some(name) = name {
        quote!(#name)
    } else {
        quote!(::core::concat!(::core::module_path!(), "::", #ident_str))
    };
    let location = quote_spanned! {ident.span()=>
        #root::__private::SourceLocation::new(::core::file!(), ::core::line!(), ::core::column!())
    };
    let site = quote! {
        #root::__private::HandlerSite {
            handler_name: #handler_name,
            module_path: ::core::module_path!(),
            location: #location,
            priority: #priority,
        }
    };

    let items = match target {
        Target::Event(ty) => {
            // Spanned on the event type, so "not an event" is reported there.
            let register = quote_spanned! {ty.span()=>
                #root::__private::HandlerRegistration::typed::<#ty>(#site, &__EVENTBUS_CALL)
            };
            quote! {
                fn __eventbus_call(
                    event: &#ty,
                    _: &#root::__private::CallArgs<'_>,
                ) -> ::core::result::Result<(), #root::__private::BoxError> {
                    let #result = #ident(event);
                    #convert
                }

                static __EVENTBUS_CALL: #root::__private::TypedCall<#ty> = __eventbus_call;

                #root::__private::inventory::submit! { #register }
            }
        }
        Target::Any | Target::Dead => {
            let (constructor, event) = match target {
                Target::Any => (quote!(any), quote!(&args.any_event())),
                _ => (quote!(dead), quote!(&#root::__private::dead_event(args))),
            };
            quote! {
                fn __eventbus_call(
                    args: &#root::__private::CallArgs<'_>,
                ) -> ::core::result::Result<(), #root::__private::BoxError> {
                    let #result = #ident(#event);
                    #convert
                }

                #root::__private::inventory::submit! {
                    #root::__private::HandlerRegistration::#constructor(#site, __eventbus_call)
                }
            }
        }
    };
    quote! {
        const _: () = {
            #items
        };
    }
}
