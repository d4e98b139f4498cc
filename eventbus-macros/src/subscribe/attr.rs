//! The options of `#[subscribe(...)]`.

use proc_macro2::TokenStream;
use syn::parse::Parser;

use crate::ctxt::Ctxt;
use crate::root::{parse_crate_path, parse_str};

use syn::parse::Parse;

/// Parses a whole-number option, or says what to write.
fn parse_count(meta: &syn::meta::ParseNestedMeta<'_>, example: &str) -> syn::Result<syn::LitInt> {
    meta.value()?.parse::<syn::LitInt>().map_err(|error| {
        syn::Error::new(
            error.span(),
            format!("this option takes a whole number, e.g. `{example}`"),
        )
    })
}

const VALID: &str = "`priority = N`, `mode = \"inline\" | \"background\" | \"blocking\"`, \
                     `group = \"...\"`, `retry = N`, `timeout_ms = N`, `filter = path::to_fn`, \
                     `publishes = [Event, ..]`, `name = \"...\"` or `crate = \"...\"`";

/// Each option that takes a value, with an example of one.
const VALUE_EXAMPLES: &[(&str, &str)] = &[
    ("priority", "priority = 10"),
    ("mode", "mode = \"background\""),
    ("group", "group = \"billing\""),
    ("retry", "retry = 3"),
    ("timeout_ms", "timeout_ms = 500"),
    ("filter", "filter = only_large_orders"),
    ("publishes", "publishes = [PaymentCharged]"),
    ("name", "name = \"send_receipt\""),
    ("crate", "crate = \"my_eventbus\""),
];

/// How the bus runs the handler.
#[derive(Default, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    #[default]
    Inline,
    Background,
    Blocking,
}

#[derive(Default)]
pub struct SubscribeAttrs {
    pub priority: i32,
    pub mode: Mode,
    /// The `mode = ".."` value, for errors about it.
    pub mode_token: Option<syn::LitStr>,
    pub name: Option<syn::LitStr>,
    pub crate_path: Option<syn::Path>,
    pub group: Option<syn::LitStr>,
    pub retry: u32,
    pub timeout_ms: Option<syn::LitInt>,
    pub filter: Option<syn::Path>,
    pub publishes: Vec<syn::Type>,
}

impl SubscribeAttrs {
    pub fn parse(cx: &Ctxt, args: TokenStream) -> Self {
        let mut out = Self::default();
        let mut seen: Vec<String> = Vec::new();
        let parser = syn::meta::parser(|meta| {
            let Some(key) = meta.path.get_ident().map(ToString::to_string) else {
                return Err(meta.error(format!("unknown subscribe option; expected {VALID}")));
            };
            if seen.contains(&key) {
                cx.error_spanned_by(
                    &meta.path,
                    format!("duplicate subscribe option `{key}`; give it once"),
                );
            }
            seen.push(key.clone());
            if !meta.input.peek(syn::Token![=])
                && VALUE_EXAMPLES.iter().any(|(known, _)| *known == key)
            {
                let example = VALUE_EXAMPLES
                    .iter()
                    .find(|(known, _)| *known == key)
                    .map_or("", |(_, example)| example);
                return Err(syn::Error::new_spanned(
                    &meta.path,
                    format!("the subscribe option `{key}` needs a value, e.g. `{example}`"),
                ));
            }
            out.option(cx, &key, &meta)
        });
        if let Err(error) = parser.parse2(args) {
            cx.syn_error(error);
        }
        out
    }

    /// Reads the value of one option, `key`.
    fn option(
        &mut self,
        cx: &Ctxt,
        key: &str,
        meta: &syn::meta::ParseNestedMeta<'_>,
    ) -> syn::Result<()> {
        match key {
            "priority" => {
                if let Some(priority) = parse_priority(cx, meta)? {
                    self.priority = priority;
                }
            }
            "mode" => {
                let value = parse_str(meta, "mode = \"background\"")?;
                match value.value().as_str() {
                    "inline" => self.mode = Mode::Inline,
                    "background" => self.mode = Mode::Background,
                    "blocking" => self.mode = Mode::Blocking,
                    other => cx.error_spanned_by(
                        &value,
                        format!(
                            "unknown mode `{other}`; expected `\"inline\"` (the default), \
                             `\"background\"` or `\"blocking\"`"
                        ),
                    ),
                }
                self.mode_token = Some(value);
            }
            "group" => {
                let value = parse_str(meta, "group = \"billing\"")?;
                if value.value().trim().is_empty() {
                    cx.error_spanned_by(
                        &value,
                        "a group name cannot be empty; write e.g. `group = \"billing\"`",
                    );
                }
                self.group = Some(value);
            }
            "retry" => {
                let value = parse_count(meta, "retry = 3")?;
                match value.base10_parse::<u32>() {
                    Ok(retry) => self.retry = retry,
                    Err(_) => cx.error_spanned_by(
                        &value,
                        "`retry` is how many times a failed call is tried again: a whole number, e.g. `retry = 3`",
                    ),
                }
            }
            "timeout_ms" => {
                let value = parse_count(meta, "timeout_ms = 500")?;
                match value.base10_parse::<u64>() {
                    Ok(0) | Err(_) => cx.error_spanned_by(
                        &value,
                        "`timeout_ms` is a limit in milliseconds above zero, e.g. `timeout_ms = 500`",
                    ),
                    Ok(_) => self.timeout_ms = Some(value),
                }
            }
            "filter" => {
                let value = meta.value()?;
                let path: syn::Path = value.parse().map_err(|error| {
                    syn::Error::new(
                        error.span(),
                        "`filter` names a function `fn(&E) -> bool`, e.g. `filter = only_large_orders`",
                    )
                })?;
                self.filter = Some(path);
            }
            "publishes" => {
                let value = meta.value()?;
                let content;
                syn::bracketed!(content in value);
                let types = content.parse_terminated(syn::Type::parse, syn::Token![,])?;
                self.publishes = types.into_iter().collect();
            }
            "name" => {
                let value = parse_str(meta, "name = \"send_receipt\"")?;
                if value.value().trim().is_empty() {
                    cx.error_spanned_by(
                        &value,
                        "a handler name cannot be empty; write e.g. `name = \"send_receipt\"`",
                    );
                }
                self.name = Some(value);
            }
            "crate" => {
                let value = parse_str(meta, "crate = \"my_eventbus\"")?;
                match parse_crate_path(&value) {
                    Ok(path) => self.crate_path = Some(path),
                    Err(error) => cx.syn_error(error),
                }
            }
            _ => {
                return Err(meta.error(format!(
                    "unknown subscribe option `{key}`; expected {VALID}"
                )));
            }
        }
        Ok(())
    }
}

/// Reads `priority = N`, negative numbers included; `None` after reporting
/// a number out of range.
fn parse_priority(cx: &Ctxt, meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<Option<i32>> {
    let input = meta.value()?;
    let minus: Option<syn::Token![-]> = input.parse()?;
    let value: syn::LitInt = input.parse().map_err(|error| {
        syn::Error::new(
            error.span(),
            "the priority must be a whole number, e.g. `priority = 10` or `priority = -5`",
        )
    })?;
    let parsed = value
        .base10_parse::<i64>()
        .ok()
        .map(|number| if minus.is_some() { -number } else { number })
        .and_then(|number| i32::try_from(number).ok());
    if parsed.is_none() {
        cx.error_spanned_by(
            &value,
            "the priority must fit in an `i32` (from -2147483648 to 2147483647)",
        );
    }
    Ok(parsed)
}
