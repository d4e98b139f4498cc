//! `#[upcast]`: options -> model -> checks -> code.
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
            "`#[upcast]` goes on a free function from an event's old JSON to the next version's, \
             e.g. `#[upcast(event = OrderPlaced, from = 1)] fn order_placed_v1(old: \
             serde_json::Value) -> serde_json::Value { .. }`",
        )
        .to_compile_error();
        return quote!(#error #item);
    };
    let cx = Ctxt::new();
    let attrs = attr::UpcastAttrs::parse(&cx, args);
    validate::check(&cx, &function.sig, &attrs);
    let model = parse::Upcaster::from_fn(&function, &attrs);
    match (cx.check(), model) {
        (Ok(()), Some(model)) => {
            let registration = expand::registration(&model);
            quote!(#function #registration)
        }
        (Err(error), _) => {
            let error = error.to_compile_error();
            quote!(#error #function)
        }
        (Ok(()), None) => {
            unreachable!("an upcaster without its options or its parameter fails validation")
        }
    }
}
