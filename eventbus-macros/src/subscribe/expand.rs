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

    let (target, event) = match target {
        Target::Event(ty) => (
            quote_spanned!(ty.span()=> #root::__private::target::<#ty>()),
            quote_spanned!(ty.span()=> #root::__private::downcast::<#ty>(event)?),
        ),
        Target::Any => (
            quote!(#root::__private::Target::Any),
            quote!(&args.any_event()),
        ),
        Target::Dead => (
            quote!(#root::__private::Target::Dead),
            quote!(&#root::__private::dead_event(args)),
        ),
    };
    // Spanned on the return type, so a wrong one is reported there.
    let result = quote_spanned! {*output_span=>
        #root::__private::IntoHandlerResult::into_handler_result(result)
    };
    let handler_name = match name {
        Some(name) => quote!(#name),
        None => quote!(::core::concat!(::core::module_path!(), "::", #ident_str)),
    };
    let location = quote_spanned! {ident.span()=>
        #root::__private::SourceLocation::new(::core::file!(), ::core::line!(), ::core::column!())
    };

    quote! {
        const _: () = {
            #[allow(unused_variables)]
            fn __eventbus_call(
                event: &dyn ::core::any::Any,
                args: &#root::__private::CallArgs<'_>,
            ) -> ::core::result::Result<(), #root::__private::BoxError> {
                let result = #ident(#event);
                #result
            }

            #root::__private::inventory::submit! {
                #root::__private::HandlerRegistration::new(
                    #target,
                    #handler_name,
                    ::core::module_path!(),
                    #location,
                    #priority,
                    __eventbus_call,
                )
            }
        };
    }
}
