//! The derive input as a small model.

use crate::ctxt::Ctxt;
use crate::root::Root;

use super::attr::EventAttrs;

pub struct Model {
    pub ident: syn::Ident,
    pub name: String,
    pub version: u32,
    pub local: bool,
    pub root: Root,
}

impl Model {
    pub fn from_ast(cx: &Ctxt, input: &syn::DeriveInput) -> Self {
        let attrs = EventAttrs::from_attrs(cx, &input.attrs);
        Self {
            ident: input.ident.clone(),
            name: attrs.name.map_or_else(
                || syn::ext::IdentExt::unraw(&input.ident).to_string(),
                |name| name.value(),
            ),
            version: attrs.version.unwrap_or(1),
            local: attrs.local,
            root: Root::new(attrs.crate_path),
        }
    }
}
