//! The options of `#[upcast(...)]`, listed once in [`OPTIONS`].

use proc_macro2::TokenStream;
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;

use crate::ctxt::Ctxt;
use crate::options::{Form, OptionSpec, Options};
use crate::root::{read_crate, CrateOption};

/// Every option of `#[upcast(...)]`: the list of valid keys, the examples
/// in errors and the reader of each value all come from here.
const OPTIONS: Options<UpcastAttrs> = Options {
    attribute: "upcast",
    table: &[
        OptionSpec {
            key: "event",
            syntax: "event = Type",
            example: "event = OrderPlaced",
            form: Form::Value,
            read: read_event,
        },
        OptionSpec {
            key: "from",
            syntax: "from = N",
            example: "from = 1",
            form: Form::Value,
            read: read_from,
        },
        OptionSpec {
            key: "crate",
            syntax: "crate = \"...\"",
            example: "crate = \"my_eventbus\"",
            form: Form::Value,
            read: read_crate,
        },
    ],
};

/// A whole attribute, for errors about a missing option.
pub const EXAMPLE: &str = "#[upcast(event = OrderPlaced, from = 1)]";

/// The options given in `#[upcast(...)]`.
#[derive(Default)]
pub struct UpcastAttrs {
    /// The event type's path, once it is one.
    pub event: Option<syn::Path>,
    /// The version the function reads, once it is one, with its token.
    pub from: Option<(u32, syn::LitInt)>,
    pub crate_path: Option<syn::Path>,
    /// The keys given, valid values or not, so an option whose value is
    /// wrong is not also reported missing.
    pub seen: Vec<String>,
    /// Whether every option was read: reading stops at an option that
    /// cannot be read at all, and the ones after it are not missing.
    pub read_whole: bool,
}

impl UpcastAttrs {
    pub fn parse(cx: &Ctxt, args: TokenStream) -> Self {
        let mut out = Self::default();
        let mut seen: Vec<String> = Vec::new();
        let parser = syn::meta::parser(|meta| OPTIONS.read(&mut out, cx, &mut seen, &meta));
        match parser.parse2(args) {
            Ok(()) => out.read_whole = true,
            Err(error) => cx.syn_error(error),
        }
        out.seen = seen;
        out
    }

    /// Whether `key` was written, whatever its value.
    pub fn has(&self, key: &str) -> bool {
        self.seen.iter().any(|seen| seen == key)
    }
}

type Spec = OptionSpec<UpcastAttrs>;

/// Reads `event = Type`: a type path. It is read as an expression, so a
/// string or an expression in its place is read whole and the options
/// after it are still read; event types are never generic, so a path
/// expression is every type path they can have.
fn read_event(
    attrs: &mut UpcastAttrs,
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    spec: &Spec,
) -> syn::Result<()> {
    let by_path = format!(
        "`event` takes the event type by its path, e.g. `{}`",
        spec.example
    );
    let mut value: syn::Expr = meta
        .value()?
        .parse()
        .map_err(|error| syn::Error::new(error.span(), &by_path))?;
    // A `$event:ty` of a `macro_rules!` arrives in an invisible group.
    while let syn::Expr::Group(group) = value {
        value = *group.expr;
    }
    match value {
        syn::Expr::Path(syn::ExprPath {
            qself: None, path, ..
        }) => attrs.event = Some(path),
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(string),
            ..
        }) => cx.error_spanned_by(
            string,
            format!(
                "`event` takes the event type itself, not a string: write `{}`",
                spec.example
            ),
        ),
        other => cx.error_spanned_by(other, by_path),
    }
    Ok(())
}

/// Reads `from = N`, a version from 1. Any expression is read whole, so
/// the options after it are still read.
fn read_from(
    attrs: &mut UpcastAttrs,
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    spec: &Spec,
) -> syn::Result<()> {
    let mut value: syn::Expr = meta.value()?.parse()?;
    // A `$from:literal` of a `macro_rules!` arrives in an invisible group.
    while let syn::Expr::Group(group) = value {
        value = *group.expr;
    }
    let syn::Expr::Lit(syn::ExprLit {
        lit: syn::Lit::Int(number),
        ..
    }) = &value
    else {
        cx.error_spanned_by(
            &value,
            format!(
                "`from` is the version the upcaster reads, a whole number: write e.g. `{}`",
                spec.example
            ),
        );
        return Ok(());
    };
    match number.base10_parse::<u32>() {
        Ok(0) => cx.error_spanned_by(
            number,
            format!(
                "versions start at 1, so no upcaster reads version 0: write the version the \
                 function reads, e.g. `{}`",
                spec.example
            ),
        ),
        Ok(from) => attrs.from = Some((from, number.clone())),
        Err(_) => cx.error_spanned_by(
            number,
            format!(
                "`from` is the version the upcaster reads, from 1 to 4294967295: write e.g. `{}`",
                spec.example
            ),
        ),
    }
    Ok(())
}

impl CrateOption for UpcastAttrs {
    fn crate_path(&mut self) -> &mut Option<syn::Path> {
        &mut self.crate_path
    }
}

#[cfg(test)]
mod tests {
    use super::{EXAMPLE, OPTIONS};

    #[test]
    fn the_valid_keys_are_listed_in_table_order() {
        assert_eq!(
            OPTIONS.valid(),
            "`event = Type`, `from = N` or `crate = \"...\"`"
        );
    }

    #[test]
    fn every_example_uses_its_key() {
        for spec in OPTIONS.table {
            assert!(spec.syntax.starts_with(spec.key), "{}", spec.key);
            assert!(spec.example.starts_with(spec.key), "{}", spec.key);
        }
        for key in ["event", "from"] {
            assert!(EXAMPLE.contains(key), "{key}");
        }
    }
}
