//! The handler function as a small model.

use proc_macro2::Span;
use syn::spanned::Spanned;

use crate::ctxt::Ctxt;
use crate::root::Root;

use super::attr::{Mode, SubscribeAttrs};

/// Which events a handler takes, read from its first parameter.
pub enum Target<'a> {
    /// `&E` for an event type `E`.
    Event(&'a syn::Type),
    /// `&AnyEvent`: every event.
    Any,
    /// `&DeadEvent`: events no handler took.
    Dead,
}

pub struct Handler<'a> {
    pub ident: &'a syn::Ident,
    pub target: Target<'a>,
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
}

impl<'a> Handler<'a> {
    /// The model, or `None` when the first parameter is unusable (an error
    /// is recorded then).
    pub fn from_fn(cx: &Ctxt, function: &'a syn::ItemFn, attrs: &SubscribeAttrs) -> Option<Self> {
        let target = target(cx, &function.sig)?;
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
            target,
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
        })
    }
}

fn target<'a>(cx: &Ctxt, sig: &'a syn::Signature) -> Option<Target<'a>> {
    let Some(syn::FnArg::Typed(first)) = sig.inputs.first() else {
        // No parameter, or `self`: reported by `validate`.
        return None;
    };
    let syn::Type::Reference(reference) = &*first.ty else {
        let ty = &first.ty;
        let event = smart_pointee(ty).unwrap_or(ty);
        cx.error_spanned_by(
            ty,
            format!(
                "take the event by reference: write `&{}`; the bus lends each event to every handler",
                display(event)
            ),
        );
        return None;
    };
    if let Some(mutability) = reference.mutability {
        cx.error_spanned_by(
            mutability,
            "take the event by shared reference, `&E`, not `&mut E`: every handler sees the same event",
        );
        return None;
    }
    if let Some(lifetime) = &reference.lifetime {
        cx.error_spanned_by(
            lifetime,
            format!(
                "remove the lifetime: write `&{}`; the bus lends the event only for the call",
                display(&reference.elem)
            ),
        );
        return None;
    }
    if let syn::Type::ImplTrait(bounds) = &*reference.elem {
        cx.error_spanned_by(
            bounds,
            "a handler takes one event type: write `&OrderPlaced`, or `&AnyEvent` to see every event",
        );
        return None;
    }
    if let Some(event) = smart_pointee(&reference.elem) {
        cx.error_spanned_by(
            &reference.elem,
            format!(
                "take the event itself by reference: write `&{}`; the bus owns the event and lends it to every handler",
                display(event)
            ),
        );
        return None;
    }
    let last = match &*reference.elem {
        syn::Type::Path(path) if path.qself.is_none() => path.path.segments.last(),
        _ => None,
    };
    Some(
        match last.map(|segment| segment.ident.to_string()).as_deref() {
            Some("AnyEvent") => Target::Any,
            Some("DeadEvent") => Target::Dead,
            _ => Target::Event(&reference.elem),
        },
    )
}

/// `T` in `Box<T>`, `Arc<T>` or `Rc<T>`.
fn smart_pointee(ty: &syn::Type) -> Option<&syn::Type> {
    let syn::Type::Path(path) = ty else {
        return None;
    };
    let last = path.path.segments.last()?;
    if !matches!(last.ident.to_string().as_str(), "Box" | "Arc" | "Rc") {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        syn::GenericArgument::Type(inner) if args.args.len() == 1 => Some(inner),
        _ => None,
    }
}

/// A type as a user writes it: `shop::Order<'a>`, not `shop :: Order < 'a >`.
fn display(ty: &syn::Type) -> String {
    let spaced = quote::ToTokens::to_token_stream(ty).to_string();
    let mut out = String::with_capacity(spaced.len());
    let mut chars = spaced.chars().peekable();
    while let Some(c) = chars.next() {
        let next = chars.peek().copied();
        let prev = out.chars().last();
        let glue = c == ' '
            && (matches!(next, Some(':' | '<' | '>' | ',' | ')' | ']'))
                || matches!(prev, Some(':' | '<' | '&' | '(' | '[')));
        if !glue {
            out.push(c);
        }
    }
    out
}
