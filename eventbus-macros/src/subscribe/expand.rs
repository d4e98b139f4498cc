//! The registration `#[subscribe]` writes beside the function.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use super::attr::Mode;
use super::parse::{CatchAll, Handler};

pub fn registration(handler: &Handler<'_>) -> TokenStream {
    let root = &handler.root;
    let site = site(handler);
    let ty = handler.event;
    let items = match handler.catch_all {
        None if handler.asyncness.is_some() => {
            let call = async_call(handler, ty);
            // Spanned on the event type, so "not an event" is reported there.
            let (filter_item, filter) = filter(handler, ty);
            let register = quote_spanned! {ty.span()=>
                #root::__private::HandlerRegistration::typed_async::<#ty>(#site, &__EVENTBUS_CALL, #filter)
            };
            quote! {
                #call

                static __EVENTBUS_CALL: #root::__private::AsyncCall<#ty> = __eventbus_call;
                #filter_item

                #root::__private::inventory::submit! { #register }
            }
        }
        None => {
            let body = sync_body(handler, &quote!(__eventbus_event));
            let (filter_item, filter) = filter(handler, ty);
            let register = quote_spanned! {ty.span()=>
                #root::__private::HandlerRegistration::typed::<#ty>(#site, &__EVENTBUS_CALL, #filter)
            };
            quote! {
                #[allow(unused_variables)]
                fn __eventbus_call(
                    __eventbus_event: &#ty,
                    __eventbus_args: &#root::__private::CallArgs<'_>,
                ) -> ::core::result::Result<(), #root::__private::BoxError> {
                    #body
                }

                static __EVENTBUS_CALL: #root::__private::TypedCall<#ty> = __eventbus_call;
                #filter_item

                #root::__private::inventory::submit! { #register }
            }
        }
        Some(catch_all) => {
            let (constructor, event) = if catch_all == CatchAll::Any {
                (quote!(any), quote!(&__eventbus_args.any_event()))
            } else {
                (
                    quote!(dead),
                    quote!(&#root::__private::dead_event(__eventbus_args)),
                )
            };
            let body = sync_body(handler, &event);
            quote! {
                fn __eventbus_call(
                    __eventbus_args: &#root::__private::CallArgs<'_>,
                ) -> ::core::result::Result<(), #root::__private::BoxError> {
                    #body
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

/// The `filter = path` function as a static, and the argument that
/// registers it.
fn filter(handler: &Handler<'_>, ty: &syn::Type) -> (TokenStream, TokenStream) {
    let root = &handler.root;
    match &handler.filter {
        Some(path) => {
            // Spanned on the path, so a function of the wrong type is
            // reported there.
            let item = quote_spanned! {path.span()=>
                static __EVENTBUS_FILTER: #root::__private::Filter<#ty> = #path;
            };
            (
                item,
                quote!(::core::option::Option::Some(&__EVENTBUS_FILTER)),
            )
        }
        None => (TokenStream::new(), quote!(::core::option::Option::None)),
    }
}

/// Where and how the handler is written.
fn site(handler: &Handler<'_>) -> TokenStream {
    let Handler {
        ident,
        priority,
        name,
        root,
        extractors,
        mode,
        group,
        retry,
        timeout_ms,
        publishes,
        ..
    } = handler;
    let ident_str = syn::ext::IdentExt::unraw(*ident).to_string();
    let group = if let Some(group) = group {
        quote!(::core::option::Option::Some(#group))
    } else {
        quote!(::core::option::Option::None)
    };
    let timeout_ms = if let Some(limit) = timeout_ms {
        quote!(#limit)
    } else {
        quote!(0)
    };
    // Spanned on each type, so "not an event" is reported there.
    let publishes = publishes.iter().map(|ty| {
        quote_spanned! {ty.span()=>
            <#ty as #root::Event>::__meta
        }
    });
    let handler_name = if let Some(name) = name {
        quote!(#name)
    } else {
        quote!(::core::concat!(::core::module_path!(), "::", #ident_str))
    };
    let location = quote_spanned! {ident.span()=>
        #root::__private::SourceLocation::new(::core::file!(), ::core::line!(), ::core::column!())
    };
    let mode = match mode {
        Mode::Inline => quote!(Inline),
        Mode::Background => quote!(Background),
        Mode::Blocking => quote!(Blocking),
    };
    let context = !extractors.is_empty();
    let requires = extractors.iter().map(|ty| {
        quote_spanned! {ty.span()=>
            <#ty as #root::__private::FromContext<'_>>::requirement
        }
    });
    quote! {
        #root::__private::HandlerSite {
            handler_name: #handler_name,
            module_path: ::core::module_path!(),
            location: #location,
            priority: #priority,
            mode: #root::__private::Mode::#mode,
            context: #context,
            requires: &[#(#requires),*],
            group: #group,
            retry: #retry,
            timeout_ms: #timeout_ms,
            publishes: &[#(#publishes),*],
        }
    }
}

/// Names for the handler's parameters after the event.
fn extractor_names(handler: &Handler<'_>) -> Vec<syn::Ident> {
    (0..handler.extractors.len())
        .map(|at| format_ident!("__eventbus_arg{}", at))
        .collect()
}

/// `let argN = <T as FromContext>::from_context(ctx)?;` for each parameter
/// after the event, spanned on its type so a type that is no extractor is
/// reported there.
fn extract(handler: &Handler<'_>, context: &TokenStream) -> TokenStream {
    let root = &handler.root;
    let names = extractor_names(handler);
    let lets = handler.extractors.iter().zip(&names).map(|(ty, name)| {
        quote_spanned! {ty.span()=>
            let #name = <#ty as #root::__private::FromContext<'_>>::from_context(#context)?;
        }
    });
    quote!(#(#lets)*)
}

/// The result of the call, bound and read under one span so hygiene
/// resolves it also when the handler comes from a `macro_rules!`; the
/// conversion is spanned on the return type, so a wrong one is reported
/// there.
fn convert(handler: &Handler<'_>) -> (syn::Ident, TokenStream) {
    let root = &handler.root;
    let result = syn::Ident::new("__eventbus_result", handler.output_span);
    let convert = quote_spanned! {handler.output_span=>
        #root::__private::IntoHandlerResult::into_handler_result(#result)
    };
    (result, convert)
}

fn sync_body(handler: &Handler<'_>, event: &TokenStream) -> TokenStream {
    let ident = handler.ident;
    let names = extractor_names(handler);
    let extract = if handler.extractors.is_empty() {
        TokenStream::new()
    } else {
        let extract = extract(handler, &quote!(__eventbus_context));
        quote! {
            let __eventbus_context = __eventbus_args.context()?;
            #extract
        }
    };
    let (result, convert) = convert(handler);
    quote! {
        #extract
        let #result = #ident(#event #(, #names)*);
        #convert
    }
}

fn async_call(handler: &Handler<'_>, ty: &syn::Type) -> TokenStream {
    let Handler {
        ident,
        root,
        asyncness,
        ..
    } = handler;
    let names = extractor_names(handler);
    let extract = if handler.extractors.is_empty() {
        TokenStream::new()
    } else {
        let extract = extract(handler, &quote!(&*__eventbus_context));
        quote! {
            let __eventbus_context = #root::__private::owned_context(
                __eventbus_context,
                <#ty as #root::Event>::NAME,
            )?;
            #extract
        }
    };
    let (result, convert) = convert(handler);
    // Spanned on `async`, so a future that is not `Send` is reported on
    // the handler.
    let span = asyncness.span();
    let boxed = quote_spanned! {span=>
        __eventbus_handler_future(async move {
            #extract
            let #result = #ident(&*__eventbus_event #(, #names)*).await;
            #convert
        })
    };
    quote! {
        #[allow(unused_variables)]
        fn __eventbus_call(
            __eventbus_event: #root::__private::Arc<#ty>,
            __eventbus_context: ::core::option::Option<#root::__private::Arc<#root::__private::Context>>,
        ) -> #root::__private::HandlerFuture {
            use #root::__private::handler_future as __eventbus_handler_future;
            #boxed
        }
    }
}
