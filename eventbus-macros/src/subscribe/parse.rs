//! The handler function as a small model. Parsing only reads: whether the
//! model is a valid handler is `validate`'s question.

use proc_macro2::Span;
use syn::spanned::Spanned;

use crate::root::Root;

use super::attr::{Mode, SubscribeAttrs};

/// A catch-all handler, recognised by the name of the type it takes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum CatchAll {
    /// `&AnyEvent`: every event.
    Any,
    /// `&DeadEvent`: events no handler took.
    Dead,
}

pub struct Handler<'a> {
    pub ident: &'a syn::Ident,
    /// The type of the first parameter as written; `&OrderPlaced` in a
    /// valid handler.
    pub event_param: &'a syn::Type,
    /// `E` in `&E`, or the whole first parameter's type when it is not a
    /// reference.
    pub event: &'a syn::Type,
    /// Set when the event type is named `AnyEvent` or `DeadEvent`.
    pub catch_all: Option<CatchAll>,
    /// The `async` keyword, for an `async fn`.
    pub asyncness: Option<syn::Token![async]>,
    /// The types of the parameters after the event, each resolved per call
    /// through `FromContext`.
    pub extractors: Vec<&'a syn::Type>,
    pub mode: Mode,
    /// Where a wrong return type is reported.
    pub output_span: Span,
    pub priority: i32,
    pub name: Option<syn::LitStr>,
    pub root: Root,
    pub group: Option<syn::LitStr>,
    pub retry: u32,
    pub timeout_ms: Option<syn::LitInt>,
    pub filter: Option<syn::Path>,
    pub publishes: Vec<syn::Type>,
    pub replay: bool,
}

impl<'a> Handler<'a> {
    /// The model, or `None` when the function has no typed first
    /// parameter (no parameter at all, or `self`).
    pub fn from_fn(function: &'a syn::ItemFn, attrs: &SubscribeAttrs) -> Option<Self> {
        let Some(syn::FnArg::Typed(first)) = function.sig.inputs.first() else {
            return None;
        };
        let event_param = &*first.ty;
        let event = match event_param {
            syn::Type::Reference(reference) => &*reference.elem,
            other => other,
        };
        let extractors = function
            .sig
            .inputs
            .iter()
            .skip(1)
            .filter_map(|input| match input {
                syn::FnArg::Typed(typed) => Some(&*typed.ty),
                syn::FnArg::Receiver(_) => None,
            })
            .collect();
        let output_span = match &function.sig.output {
            syn::ReturnType::Default => function.sig.ident.span(),
            syn::ReturnType::Type(_, ty) => ty.span(),
        };
        Some(Self {
            ident: &function.sig.ident,
            event_param,
            event,
            catch_all: catch_all(event),
            asyncness: function.sig.asyncness,
            extractors,
            mode: attrs.mode,
            output_span,
            priority: attrs.priority,
            name: attrs.name.clone(),
            root: Root::new(attrs.crate_path.clone()),
            group: attrs.group.clone(),
            retry: attrs.retry,
            timeout_ms: attrs.timeout_ms.clone(),
            filter: attrs.filter.clone(),
            publishes: attrs.publishes.clone(),
            replay: attrs.replay,
        })
    }
}

/// Which catch-all `ty` names, by the last segment of its path.
fn catch_all(ty: &syn::Type) -> Option<CatchAll> {
    let syn::Type::Path(path) = ty else {
        return None;
    };
    if path.qself.is_some() {
        return None;
    }
    match path.path.segments.last()?.ident.to_string().as_str() {
        "AnyEvent" => Some(CatchAll::Any),
        "DeadEvent" => Some(CatchAll::Dead),
        _ => None,
    }
}
