//! The one path through which generated code names the runtime.

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};

/// `::eventbus`, or the path given with `crate = "..."`.
pub struct Root(Option<syn::Path>);

impl Root {
    pub fn new(custom: Option<syn::Path>) -> Self {
        Self(custom)
    }
}

impl ToTokens for Root {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        match &self.0 {
            Some(path) => path.to_tokens(tokens),
            None => tokens.extend(quote!(::eventbus)),
        }
    }
}

/// Parses the value of a `crate = "path"` option; `example` shows a good
/// one.
pub fn parse_crate_path(value: &syn::LitStr, example: &str) -> syn::Result<syn::Path> {
    value.parse::<syn::Path>().map_err(|_| {
        syn::Error::new(
            value.span(),
            format!(
                "`crate = {:?}` is not a path; write the path of the renamed `eventbus` crate, e.g. `{example}`",
                value.value()
            ),
        )
    })
}

/// An attribute's options that include `crate = "path"`.
pub trait CrateOption {
    /// Where the option's path is kept.
    fn crate_path(&mut self) -> &mut Option<syn::Path>;
}

/// Reads a `crate = "path"` option, the reader of every attribute's
/// table; a value that is not a path is an error in `cx` (the other
/// options are still read).
pub fn read_crate<T: CrateOption>(
    attrs: &mut T,
    cx: &crate::ctxt::Ctxt,
    meta: &syn::meta::ParseNestedMeta<'_>,
    spec: &crate::options::OptionSpec<T>,
) -> syn::Result<()> {
    let value = parse_str(meta, spec.example)?;
    if let Ok(path) = parse_crate_path(&value, spec.example).map_err(|error| cx.syn_error(error)) {
        *attrs.crate_path() = Some(path);
    }
    Ok(())
}

/// Parses the string value of an option that must not be blank: `what`
/// (e.g. "a group name") is named in the error, which `cx` collects.
pub fn parse_non_empty_str(
    cx: &crate::ctxt::Ctxt,
    meta: &syn::meta::ParseNestedMeta<'_>,
    example: &str,
    what: &str,
) -> syn::Result<syn::LitStr> {
    let value = parse_str(meta, example)?;
    if value.value().trim().is_empty() {
        cx.error_spanned_by(
            &value,
            format!("{what} cannot be empty; write e.g. `{example}`"),
        );
    }
    Ok(value)
}

/// Parses the string value of an option, or says what to write.
pub fn parse_str(meta: &syn::meta::ParseNestedMeta<'_>, example: &str) -> syn::Result<syn::LitStr> {
    let key = meta
        .path
        .get_ident()
        .map_or_else(String::new, ToString::to_string);
    meta.value()?.parse::<syn::LitStr>().map_err(|error| {
        syn::Error::new(
            error.span(),
            format!("the option `{key}` takes a string, e.g. `{example}`"),
        )
    })
}
