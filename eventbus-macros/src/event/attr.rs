//! The options of `#[event(...)]`.

use crate::ctxt::Ctxt;
use crate::root::parse_crate_path;

const VALID: &str = "`name = \"...\"`, `version = N`, `local` or `crate = \"...\"`";

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
            let result = attr.parse_nested_meta(|meta| {
                let Some(key) = meta.path.get_ident().map(ToString::to_string) else {
                    return Err(meta.error(format!("unknown event option; expected {VALID}")));
                };
                if seen.contains(&key) {
                    cx.error_spanned_by(&meta.path, format!("duplicate event option `{key}`; give it once"));
                }
                seen.push(key.clone());
                match key.as_str() {
                    "name" => {
                        let value: syn::LitStr = meta.value()?.parse()?;
                        if value.value().trim().is_empty() {
                            cx.error_spanned_by(&value, "an event name cannot be empty; write e.g. `name = \"shop.order_placed\"`");
                        }
                        out.name = Some(value);
                    }
                    "version" => {
                        let value: syn::LitInt = meta.value()?.parse()?;
                        match value.base10_parse::<u32>() {
                            Ok(version) => out.version = Some(version),
                            Err(_) => cx.error_spanned_by(
                                &value,
                                "the event version must be a whole number from 0 to 4294967295, e.g. `version = 2`",
                            ),
                        }
                    }
                    "local" => out.local = true,
                    "crate" => {
                        let value: syn::LitStr = meta.value()?.parse()?;
                        match parse_crate_path(&value) {
                            Ok(path) => out.crate_path = Some(path),
                            Err(error) => cx.syn_error(error),
                        }
                    }
                    _ => {
                        return Err(meta.error(format!("unknown event option `{key}`; expected {VALID}")));
                    }
                }
                Ok(())
            });
            if let Err(error) = result {
                cx.syn_error(error);
            }
        }
        out
    }
}
