//! `#[derive(Event)]`: attributes -> model -> checks -> code.

mod attr;
mod expand;
mod parse;
mod validate;

use proc_macro2::TokenStream;

use crate::ctxt::Ctxt;

pub use expand::serde_event_trait;

pub fn derive(input: &syn::DeriveInput) -> TokenStream {
    let cx = Ctxt::new();
    let attrs = attr::EventAttrs::from_attrs(&cx, &input.attrs);
    let model = parse::Model::from_ast(input, attrs);
    validate::check(&cx, input);
    match cx.check() {
        Ok(()) => expand::event_impl(&model),
        Err(error) => {
            let mut tokens = error.to_compile_error();
            if validate::can_stub(input) {
                tokens.extend(expand::fallback(&model));
            }
            tokens
        }
    }
}
