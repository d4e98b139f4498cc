//! `#[subscribe]`: options -> model -> checks -> code.
//!
//! On any error the function is re-emitted unchanged beside the errors, so
//! its callers do not also fail with "cannot find function".

mod attr;
mod expand;
mod parse;
mod validate;

use proc_macro2::TokenStream;
use quote::quote;

use crate::ctxt::Ctxt;

pub fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let Ok(function) = syn::parse2::<syn::ItemFn>(item.clone()) else {
        let error = syn::Error::new_spanned(
            &item,
            "`#[subscribe]` goes on a free function that takes an event, e.g. \
             `#[subscribe] fn on_order(order: &OrderPlaced) { .. }`",
        )
        .to_compile_error();
        return quote!(#error #item);
    };
    let cx = Ctxt::new();
    let attrs = attr::SubscribeAttrs::parse(&cx, args);
    let model = parse::Handler::from_fn(&function, &attrs);
    validate::check(&cx, &function.sig, model.as_ref(), &attrs);
    match (cx.check(), model) {
        (Ok(()), Some(model)) => {
            let registration = expand::registration(&model);
            quote!(#function #registration)
        }
        (Err(error), _) => {
            let error = error.to_compile_error();
            quote!(#error #function)
        }
        (Ok(()), None) => unreachable!("a function without an event parameter fails validation"),
    }
}
