//! The derive input as a small model.

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
    pub fn from_ast(input: &syn::DeriveInput, attrs: EventAttrs) -> Self {
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
