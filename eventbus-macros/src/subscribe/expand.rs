//! The registration `#[subscribe]` writes beside the function.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::names::Taken;

use super::attr::Mode;
use super::parse::Handler;

pub fn registration(handler: &Handler<'_>) -> TokenStream {
    let (extractors, publishes) = (&handler.extractors, &handler.publishes);
    let mut taken = Taken::default();
    taken.add(handler.ident);
    taken.add(handler.event_param);
    taken.add(quote!(#(#extractors)*));
    taken.add(&handler.filter);
    taken.add(quote!(#(#publishes)*));
    taken.add(&handler.root);
    let items = if handler.asyncness.is_some() {
        typed_async(handler, &taken)
    } else if handler.mode == Mode::Inline && handler.filter.is_none() {
        by_target(handler, &taken)
    } else {
        typed(handler, &taken)
    };
    quote! {
        const _: () = {
            #items
        };
    }
}

/// What a first parameter that is no event type is told.
const NOT_AN_EVENT: &str = "`{Self}` is not an event type";
const NOT_AN_EVENT_LABEL: &str = "not an event";
const NOT_AN_EVENT_NOTE: &str = "a handler takes `&E` for a type `E` with `#[derive(Event)]`, \
     `&AnyEvent` to see every event, or `&DeadEvent` to see the events no handler took";

/// A sync, inline handler without a filter: of one event type, or a
/// catch-all. The macro sees only tokens (a renamed `use eventbus::AnyEvent
/// as Everything;` hides the name), so the compiler decides, through
/// `HandlerTarget`: its `TARGET` says which, and a catch-all is called
/// through the erased wrapper.
///
/// The code names `HandlerTarget` only through a trait of the user's crate
/// (`Subscribable`) that forwards to it: a type that is no event then fails
/// with that trait's message and a path users may read, instead of a note
/// pointing into `eventbus::__private`.
fn by_target(handler: &Handler<'_>, taken: &Taken) -> TokenStream {
    let root = &handler.root;
    let ty = handler.event;
    let site = site(handler);
    let sync_call = sync_call(handler);
    let subscribable = taken.fresh("Subscribable");
    let erased_call = quote! {
        fn(
            &'static (dyn ::core::any::Any + ::core::marker::Send + ::core::marker::Sync),
            &#root::__private::CallArgs<'_>,
        ) -> ::core::result::Result<(), #root::__private::BoxError>
    };
    // Both uses are spanned on the event type, so "not an event" is
    // reported there, once (rustc merges the two identical errors).
    let target = quote_spanned! {ty.span()=> <#ty as #subscribable>::TARGET };
    let call_erased = quote_spanned! {ty.span()=> <#ty as #subscribable>::CALL_ERASED };
    quote! {
        #[diagnostic::on_unimplemented(
            message = #NOT_AN_EVENT,
            label = #NOT_AN_EVENT_LABEL,
            note = #NOT_AN_EVENT_NOTE,
        )]
        trait #subscribable {
            const TARGET: #root::__private::Target;
            const CALL_ERASED: #erased_call;
        }

        // Reported as the trait above, not as the `HandlerTarget` it needs.
        #[diagnostic::do_not_recommend]
        impl<__E: ?::core::marker::Sized + #root::__private::HandlerTarget> #subscribable for __E {
            const TARGET: #root::__private::Target =
                <__E as #root::__private::HandlerTarget>::TARGET;
            const CALL_ERASED: #erased_call =
                <__E as #root::__private::HandlerTarget>::call_erased;
        }

        #sync_call

        fn __eventbus_erased(
            __eventbus_args: &#root::__private::CallArgs<'_>,
        ) -> ::core::result::Result<(), #root::__private::BoxError> {
            (#call_erased)(&__EVENTBUS_CALL, __eventbus_args)
        }


        #root::__private::inventory::submit! {
            #root::__private::HandlerRegistration::sync(
                #target,
                #site,
                &__EVENTBUS_CALL,
                __eventbus_erased,
            )
        }
    }
}

/// A trait of the user's crate, implemented by every event type, through
/// which the handlers that need one event type (`async`, `filter`, a
/// `mode`) name `Event`: a type that is no event, or a renamed catch-all,
/// then fails once, with a message that says why, instead of with `Event`'s
/// supertraits and a note pointing at its hidden items. Returns the trait's
/// definition and its name.
fn event_type(handler: &Handler<'_>, taken: &Taken) -> (TokenStream, syn::Ident) {
    let root = &handler.root;
    let event_type = taken.fresh("EventType");
    let needs = if handler.asyncness.is_some() {
        "an `async` handler takes `&E` for a type `E` with `#[derive(Event)]`; \
         `&AnyEvent` and `&DeadEvent` handlers are plain `fn`s"
    } else if handler.filter.is_some() {
        "a handler with a `filter` takes `&E` for a type `E` with `#[derive(Event)]`; \
         `&AnyEvent` and `&DeadEvent` handlers take no filter"
    } else {
        "a handler with a `mode` takes `&E` for a type `E` with `#[derive(Event)]`; \
         `&AnyEvent` and `&DeadEvent` handlers always run inline"
    };
    let definition = quote! {
        #[diagnostic::on_unimplemented(
            message = #NOT_AN_EVENT,
            label = #NOT_AN_EVENT_LABEL,
            note = #needs,
        )]
        trait #event_type {
            const META: fn() -> &'static #root::__private::EventMeta;
        }

        // Reported as the trait above, not as `Event` and its supertraits.
        #[diagnostic::do_not_recommend]
        impl<__E: #root::Event> #event_type for __E {
            const META: fn() -> &'static #root::__private::EventMeta =
                <__E as #root::Event>::__meta;
        }
    };
    (definition, event_type)
}

/// A sync handler with a filter or a mode other than inline: those need
/// one event type.
fn typed(handler: &Handler<'_>, taken: &Taken) -> TokenStream {
    let root = &handler.root;
    let ty = handler.event;
    let site = site(handler);
    let sync_call = sync_call(handler);
    let (filter_item, filter) = filter(handler, ty);
    let (event_type, trait_name) = event_type(handler, taken);
    // Spanned on the event type, so "not an event" is reported there.
    let meta = quote_spanned! {ty.span()=> <#ty as #trait_name>::META };
    quote! {
        #event_type

        #sync_call

        #filter_item

        #root::__private::inventory::submit! {
            #root::__private::HandlerRegistration::typed(#meta, #site, &__EVENTBUS_CALL, #filter)
        }
    }
}

/// An `async fn` handler, of one event type.
fn typed_async(handler: &Handler<'_>, taken: &Taken) -> TokenStream {
    let root = &handler.root;
    let ty = handler.event;
    let site = site(handler);
    let (event_type, trait_name) = event_type(handler, taken);
    let call = async_call(handler, taken);
    let (filter_item, filter) = filter(handler, ty);
    // Spanned on the event type, so "not an event" is reported there.
    let meta = quote_spanned! {ty.span()=> <#ty as #trait_name>::META };
    quote! {
        #event_type

        #call

        static __EVENTBUS_CALL: #root::__private::AsyncCall<#ty> = __eventbus_call;
        #filter_item

        #root::__private::inventory::submit! {
            #root::__private::HandlerRegistration::typed_async(#meta, #site, &__EVENTBUS_CALL, #filter)
        }
    }
}

/// The `filter = path` function as a static, and the argument that
/// registers it.
fn filter(handler: &Handler<'_>, ty: &syn::Type) -> (TokenStream, TokenStream) {
    match &handler.filter {
        Some(path) => {
            // Spanned on the path, so a function of the wrong type is
            // reported there.
            let item = quote_spanned! {path.span()=>
                static __EVENTBUS_FILTER: fn(&#ty) -> bool = #path;
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
        replay,
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
    let needs = extractors.iter().map(|ty| {
        quote_spanned! {ty.span()=>
            <#ty as #root::__private::FromContext<'_>>::declare
        }
    });
    quote! {
        #root::__private::HandlerSite {
            handler_name: #handler_name,
            module_path: ::core::module_path!(),
            location: #location,
            priority: #priority,
            mode: #root::__private::Mode::#mode,
            needs: &[#(#needs),*],
            group: #group,
            retry: #retry,
            timeout_ms: #timeout_ms,
            publishes: &[#(#publishes),*],
            replay: #replay,
        }
    }
}

/// Names for the handler's parameters after the event.
fn extractor_names(handler: &Handler<'_>) -> Vec<syn::Ident> {
    (0..handler.extractors.len())
        .map(|at| format_ident!("__eventbus_arg{}", at))
        .collect()
}

/// `let argN = <T as FromContext>::from_parts(parts)?;` for each parameter
/// after the event, spanned on its type so a type that is no extractor is
/// reported there.
fn extract(handler: &Handler<'_>, context: &TokenStream) -> TokenStream {
    let root = &handler.root;
    let names = extractor_names(handler);
    let lets = handler.extractors.iter().zip(&names).map(|(ty, name)| {
        quote_spanned! {ty.span()=>
            let #name = <#ty as #root::__private::FromContext<'_>>::from_parts(#context)?;
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

/// The wrapper around a sync handler, `__eventbus_call`, and the `static`
/// that registrations point at, `__EVENTBUS_CALL`.
fn sync_call(handler: &Handler<'_>) -> TokenStream {
    let root = &handler.root;
    let ty = handler.event;
    let body = sync_body(handler, &quote!(__eventbus_event));
    quote! {
        #[allow(unused_variables)]
        fn __eventbus_call(
            __eventbus_event: &#ty,
            __eventbus_args: &#root::__private::CallArgs<'_>,
        ) -> ::core::result::Result<(), #root::__private::BoxError> {
            #body
        }

        static __EVENTBUS_CALL: fn(
            &#ty,
            &#root::__private::CallArgs<'_>,
        ) -> ::core::result::Result<(), #root::__private::BoxError> = __eventbus_call;
    }
}

fn sync_body(handler: &Handler<'_>, event: &TokenStream) -> TokenStream {
    let ident = handler.ident;
    let names = extractor_names(handler);
    let extract = if handler.extractors.is_empty() {
        TokenStream::new()
    } else {
        let extract = extract(handler, &quote!(__eventbus_parts));
        quote! {
            let __eventbus_parts = __eventbus_args.parts();
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

fn async_call(handler: &Handler<'_>, taken: &Taken) -> TokenStream {
    let Handler {
        ident,
        root,
        asyncness,
        event: ty,
        ..
    } = handler;
    let names = extractor_names(handler);
    let extract = if handler.extractors.is_empty() {
        TokenStream::new()
    } else {
        let extract = extract(handler, &quote!(__eventbus_parts));
        quote! {
            let __eventbus_parts = #root::__private::Parts::new(
                __eventbus_context,
                __eventbus_states,
            );
            #extract
        }
    };
    let (result, convert) = convert(handler);
    // The `Send` bound is checked by a function of the user's crate and
    // spanned on `async`, so a future that is not `Send` is reported on the
    // handler, with a note that names this function rather than one inside
    // `eventbus::__private`.
    let span = asyncness.span();
    let handler_future = taken.fresh("handler_future");
    let send = quote_spanned! {span=> ::core::marker::Send };
    let call_future = syn::Ident::new(&handler_future.to_string(), span);
    let boxed = quote_spanned! {span=>
        #call_future(async move {
            #extract
            let #result = #ident(__eventbus_event #(, #names)*).await;
            #convert
        })
    };
    // The future borrows the event, the context and the states: the bus
    // keeps them alive while it runs.
    quote! {
        fn #handler_future<'__eventbus, __F>(
            future: __F,
        ) -> #root::__private::HandlerFuture<'__eventbus>
        where
            __F: ::core::future::Future<
                    Output = ::core::result::Result<(), #root::__private::BoxError>,
                > + #send + '__eventbus,
        {
            #root::__private::handler_future(future)
        }

        #[allow(unused_variables)]
        fn __eventbus_call<'__eventbus>(
            __eventbus_event: &'__eventbus #ty,
            __eventbus_context: ::core::option::Option<&'__eventbus #root::__private::Context>,
            __eventbus_states: &'__eventbus #root::__private::States,
        ) -> #root::__private::HandlerFuture<'__eventbus> {
            #boxed
        }
    }
}
