//! The options of `#[event(...)]`.

use crate::ctxt::Ctxt;
use crate::root::{parse_crate_path, parse_str};

const VALID_KEYS: &[&str] = &["name", "version", "local", "crate"];

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
                let takes_value = key != "local";
                if takes_value != meta.input.peek(syn::Token![=]) && VALID_KEYS.contains(&key.as_str()) {
                    let message = match key.as_str() {
                        "local" => "the event option `local` takes no value; write `#[event(local)]`".to_owned(),
                        "name" => "the event option `name` needs a value, e.g. `name = \"shop.order_placed\"`".to_owned(),
                        "version" => "the event option `version` needs a value, e.g. `version = 2`".to_owned(),
                        _ => "the event option `crate` needs a value, e.g. `crate = \"my_eventbus\"`".to_owned(),
                    };
                    return Err(syn::Error::new_spanned(&meta.path, message));
                }
                match key.as_str() {
                    "name" => {
                        let value = parse_str(&meta, "name = \"shop.order_placed\"")?;
                        if value.value().trim().is_empty() {
                            cx.error_spanned_by(&value, "an event name cannot be empty; write e.g. `name = \"shop.order_placed\"`");
                        }
                        out.name = Some(value);
                    }
                    "version" => {
                        let value: syn::LitInt = meta.value()?.parse().map_err(|error: syn::Error| {
                            syn::Error::new(error.span(), "the event version must be a whole number, e.g. `version = 2`")
                        })?;
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
                        let value = parse_str(&meta, "crate = \"my_eventbus\"")?;
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
