//! The options of `#[event(...)]`, listed once in [`OPTIONS`].

use syn::meta::ParseNestedMeta;

use crate::ctxt::Ctxt;
use crate::options::{Form, OptionSpec, Options};
use crate::root::{parse_non_empty_str, read_crate, CrateOption};

/// Every option of `#[event(...)]`: the list of valid keys, the examples
/// in errors and the reader of each value all come from here.
const OPTIONS: Options<EventAttrs> = Options {
    attribute: "event",
    table: &[
        OptionSpec {
            key: "name",
            syntax: "name = \"...\"",
            example: "name = \"shop.order_placed\"",
            form: Form::Value,
            read: read_name,
        },
        OptionSpec {
            key: "version",
            syntax: "version = N",
            example: "version = 2",
            form: Form::Value,
            read: read_version,
        },
        OptionSpec {
            key: "local",
            syntax: "local",
            example: "#[event(local)]",
            form: Form::Flag,
            read: read_local,
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

/// The options given in every `#[event(...)]` on the type.
#[derive(Default)]
pub struct EventAttrs {
    pub name: Option<syn::LitStr>,
    pub version: Option<u32>,
    pub local: bool,
    pub crate_path: Option<syn::Path>,
}

impl EventAttrs {
    pub fn from_attrs(cx: &Ctxt, attrs: &[syn::Attribute]) -> Self {
        let mut out = Self::default();
        let mut seen: Vec<String> = Vec::new();
        for attr in attrs.iter().filter(|attr| attr.path().is_ident("event")) {
            let result =
                attr.parse_nested_meta(|meta| OPTIONS.read(&mut out, cx, &mut seen, &meta));
            if let Err(error) = result {
                cx.syn_error(error);
            }
        }
        out
    }
}

type Spec = OptionSpec<EventAttrs>;

fn read_name(
    attrs: &mut EventAttrs,
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    spec: &Spec,
) -> syn::Result<()> {
    let value = parse_non_empty_str(cx, meta, spec.example, "an event name")?;
    attrs.name = Some(value);
    Ok(())
}

fn read_version(
    attrs: &mut EventAttrs,
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    spec: &Spec,
) -> syn::Result<()> {
    let value: syn::LitInt = meta.value()?.parse().map_err(|error: syn::Error| {
        syn::Error::new(
            error.span(),
            format!(
                "the event version must be a whole number, e.g. `{}`",
                spec.example
            ),
        )
    })?;
    match value.base10_parse::<u32>() {
        Ok(version) => attrs.version = Some(version),
        Err(_) => cx.error_spanned_by(
            &value,
            format!(
                "the event version must be a whole number from 0 to 4294967295, e.g. `{}`",
                spec.example
            ),
        ),
    }
    Ok(())
}

fn read_local(
    attrs: &mut EventAttrs,
    _: &Ctxt,
    _: &ParseNestedMeta<'_>,
    _: &Spec,
) -> syn::Result<()> {
    attrs.local = true;
    Ok(())
}

impl CrateOption for EventAttrs {
    fn crate_path(&mut self) -> &mut Option<syn::Path> {
        &mut self.crate_path
    }
}

#[cfg(test)]
mod tests {
    use super::OPTIONS;

    #[test]
    fn the_valid_keys_are_listed_in_table_order() {
        assert_eq!(
            OPTIONS.valid(),
            "`name = \"...\"`, `version = N`, `local` or `crate = \"...\"`"
        );
    }
}
