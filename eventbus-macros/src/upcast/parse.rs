//! The upcaster function and its options as a small model. Parsing only
//! reads: whether the model is a valid upcaster is `validate`'s question.

use proc_macro2::Span;
use syn::spanned::Spanned;

use crate::root::Root;

use super::attr::UpcastAttrs;

pub struct Upcaster<'a> {
    pub ident: &'a syn::Ident,
    /// The event type's path.
    pub event: &'a syn::Path,
    /// The version the function reads.
    pub from: u32,
    /// The `N` of `from = N`, where a `from` not below the event's version
    /// is reported.
    pub from_token: &'a syn::LitInt,
    /// The type of the one parameter; `serde_json::Value` in a valid
    /// upcaster.
    pub param: &'a syn::Type,
    /// Where a wrong return type is reported.
    pub output_span: Span,
    pub root: Root,
}

impl<'a> Upcaster<'a> {
    /// The model, or `None` when an option is missing or the function has
    /// no typed first parameter.
    pub fn from_fn(function: &'a syn::ItemFn, attrs: &'a UpcastAttrs) -> Option<Self> {
        let Some(syn::FnArg::Typed(param)) = function.sig.inputs.first() else {
            return None;
        };
        let (event, (from, from_token)) = (attrs.event.as_ref()?, attrs.from.as_ref()?);
        let output_span = match &function.sig.output {
            syn::ReturnType::Default => function.sig.ident.span(),
            syn::ReturnType::Type(_, ty) => ty.span(),
        };
        Some(Self {
            ident: &function.sig.ident,
            event,
            from: *from,
            from_token,
            param: &param.ty,
            output_span,
            root: Root::new(attrs.crate_path.clone()),
        })
    }
}
