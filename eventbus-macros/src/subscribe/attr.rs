//! The options of `#[subscribe(...)]`, listed once in [`OPTIONS`].

use proc_macro2::TokenStream;
use syn::meta::ParseNestedMeta;
use syn::parse::{Parse, Parser};

use crate::ctxt::Ctxt;
use crate::options::{alternatives, Form, OptionSpec, Options};
use crate::root::{parse_non_empty_str, parse_str, read_crate, CrateOption};

/// Every option of `#[subscribe(...)]`: the list of valid keys, the
/// examples in errors and the reader of each value all come from here.
const OPTIONS: Options<SubscribeAttrs> = Options {
    attribute: "subscribe",
    table: &[
        OptionSpec {
            key: "priority",
            syntax: "priority = N",
            example: "priority = 10",
            form: Form::Value,
            read: read_priority,
        },
        OptionSpec {
            key: "mode",
            syntax: "mode = \"inline\" | \"background\" | \"blocking\"",
            example: "mode = \"background\"",
            form: Form::Value,
            read: read_mode,
        },
        OptionSpec {
            key: "group",
            syntax: "group = \"...\"",
            example: "group = \"billing\"",
            form: Form::Value,
            read: read_group,
        },
        OptionSpec {
            key: "retry",
            syntax: "retry = N",
            example: "retry = 3",
            form: Form::Value,
            read: read_retry,
        },
        OptionSpec {
            key: "timeout_ms",
            syntax: "timeout_ms = N",
            example: "timeout_ms = 500",
            form: Form::Value,
            read: read_timeout_ms,
        },
        OptionSpec {
            key: "filter",
            syntax: "filter = path::to_fn",
            example: "filter = only_large_orders",
            form: Form::Value,
            read: read_filter,
        },
        OptionSpec {
            key: "publishes",
            syntax: "publishes = [Event, ..]",
            example: "publishes = [PaymentCharged]",
            form: Form::Value,
            read: read_publishes,
        },
        OptionSpec {
            key: "replay",
            syntax: "replay",
            example: "#[subscribe(replay)]",
            form: Form::Flag,
            read: read_replay,
        },
        OptionSpec {
            key: "name",
            syntax: "name = \"...\"",
            example: "name = \"send_receipt\"",
            form: Form::Value,
            read: read_name,
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

/// How the bus runs the handler.
#[derive(Default, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    #[default]
    Inline,
    Background,
    Blocking,
}

/// Every `mode = ".."` value, the default first.
const MODES: &[(&str, Mode)] = &[
    ("inline", Mode::Inline),
    ("background", Mode::Background),
    ("blocking", Mode::Blocking),
];

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
    /// `replay`: the handler runs on replays and projections too.
    pub replay: bool,
}

impl SubscribeAttrs {
    pub fn parse(cx: &Ctxt, args: TokenStream) -> Self {
        let mut out = Self::default();
        let mut seen: Vec<String> = Vec::new();
        let parser = syn::meta::parser(|meta| OPTIONS.read(&mut out, cx, &mut seen, &meta));
        if let Err(error) = parser.parse2(args) {
            cx.syn_error(error);
        }
        out
    }
}

type Spec = OptionSpec<SubscribeAttrs>;

/// Parses a whole-number option, or says what to write.
fn parse_count(meta: &ParseNestedMeta<'_>, example: &str) -> syn::Result<syn::LitInt> {
    meta.value()?.parse::<syn::LitInt>().map_err(|error| {
        syn::Error::new(
            error.span(),
            format!("this option takes a whole number, e.g. `{example}`"),
        )
    })
}

/// Reads `priority = N`, negative numbers included.
fn read_priority(
    attrs: &mut SubscribeAttrs,
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    spec: &Spec,
) -> syn::Result<()> {
    let input = meta.value()?;
    let minus: Option<syn::Token![-]> = input.parse()?;
    let value: syn::LitInt = input.parse().map_err(|error| {
        syn::Error::new(
            error.span(),
            format!(
                "the priority must be a whole number, e.g. `{}` or `priority = -5`",
                spec.example
            ),
        )
    })?;
    let parsed = value
        .base10_parse::<i64>()
        .ok()
        .map(|number| if minus.is_some() { -number } else { number })
        .and_then(|number| i32::try_from(number).ok());
    match parsed {
        Some(priority) => attrs.priority = priority,
        None => cx.error_spanned_by(
            &value,
            "the priority must fit in an `i32` (from -2147483648 to 2147483647)",
        ),
    }
    Ok(())
}

fn read_mode(
    attrs: &mut SubscribeAttrs,
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    spec: &Spec,
) -> syn::Result<()> {
    let value = parse_str(meta, spec.example)?;
    let written = value.value();
    match MODES.iter().find(|(name, _)| *name == written) {
        Some((_, mode)) => attrs.mode = *mode,
        None => cx.error_spanned_by(
            &value,
            format!("unknown mode `{written}`; expected {}", expected_modes()),
        ),
    }
    attrs.mode_token = Some(value);
    Ok(())
}

/// `` `"inline"` (the default), `"background"` or `"blocking"` ``.
fn expected_modes() -> String {
    alternatives(MODES.iter().map(|(name, mode)| {
        let default = if *mode == Mode::default() {
            " (the default)"
        } else {
            ""
        };
        format!("`\"{name}\"`{default}")
    }))
}

fn read_replay(
    attrs: &mut SubscribeAttrs,
    _: &Ctxt,
    _: &ParseNestedMeta<'_>,
    _: &Spec,
) -> syn::Result<()> {
    attrs.replay = true;
    Ok(())
}

fn read_group(
    attrs: &mut SubscribeAttrs,
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    spec: &Spec,
) -> syn::Result<()> {
    let value = parse_non_empty_str(cx, meta, spec.example, "a group name")?;
    attrs.group = Some(value);
    Ok(())
}

fn read_retry(
    attrs: &mut SubscribeAttrs,
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    spec: &Spec,
) -> syn::Result<()> {
    let value = parse_count(meta, spec.example)?;
    match value.base10_parse::<u32>() {
        Ok(retry) => attrs.retry = retry,
        Err(_) => cx.error_spanned_by(
            &value,
            format!(
                "`retry` is how many times a failed call is tried again: a whole number, e.g. `{}`",
                spec.example
            ),
        ),
    }
    Ok(())
}

fn read_timeout_ms(
    attrs: &mut SubscribeAttrs,
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    spec: &Spec,
) -> syn::Result<()> {
    let value = parse_count(meta, spec.example)?;
    match value.base10_parse::<u64>() {
        Ok(0) | Err(_) => cx.error_spanned_by(
            &value,
            format!(
                "`timeout_ms` is a limit in milliseconds above zero, e.g. `{}`",
                spec.example
            ),
        ),
        Ok(_) => attrs.timeout_ms = Some(value),
    }
    Ok(())
}

fn read_filter(
    attrs: &mut SubscribeAttrs,
    _: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    spec: &Spec,
) -> syn::Result<()> {
    let path: syn::Path = meta.value()?.parse().map_err(|error| {
        syn::Error::new(
            error.span(),
            format!(
                "`filter` names a function `fn(&E) -> bool`, e.g. `{}`",
                spec.example
            ),
        )
    })?;
    attrs.filter = Some(path);
    Ok(())
}

fn read_publishes(
    attrs: &mut SubscribeAttrs,
    _: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    _: &Spec,
) -> syn::Result<()> {
    let value = meta.value()?;
    let content;
    syn::bracketed!(content in value);
    let types = content.parse_terminated(syn::Type::parse, syn::Token![,])?;
    attrs.publishes = types.into_iter().collect();
    Ok(())
}

fn read_name(
    attrs: &mut SubscribeAttrs,
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    spec: &Spec,
) -> syn::Result<()> {
    let value = parse_non_empty_str(cx, meta, spec.example, "a handler name")?;
    attrs.name = Some(value);
    Ok(())
}

impl CrateOption for SubscribeAttrs {
    fn crate_path(&mut self) -> &mut Option<syn::Path> {
        &mut self.crate_path
    }
}

#[cfg(test)]
mod tests {
    use super::{expected_modes, MODES, OPTIONS};

    #[test]
    fn the_valid_keys_are_listed_in_table_order() {
        assert_eq!(
            OPTIONS.valid(),
            "`priority = N`, `mode = \"inline\" | \"background\" | \"blocking\"`, \
             `group = \"...\"`, `retry = N`, `timeout_ms = N`, `filter = path::to_fn`, \
             `publishes = [Event, ..]`, `replay`, `name = \"...\"` or `crate = \"...\"`"
        );
    }

    #[test]
    fn the_mode_syntax_lists_every_mode() {
        let mode = OPTIONS
            .table
            .iter()
            .find(|spec| spec.key == "mode")
            .expect("`mode` is an option");
        let listed: Vec<String> = MODES
            .iter()
            .map(|(name, _)| format!("\"{name}\""))
            .collect();
        assert_eq!(mode.syntax, format!("mode = {}", listed.join(" | ")));
        assert_eq!(
            expected_modes(),
            "`\"inline\"` (the default), `\"background\"` or `\"blocking\"`"
        );
    }

    #[test]
    fn every_example_uses_its_key() {
        for spec in OPTIONS.table {
            assert!(spec.syntax.starts_with(spec.key), "{}", spec.key);
            // A flag's example is the whole attribute, `#[subscribe(replay)]`.
            assert!(spec.example.contains(spec.key), "{}", spec.key);
        }
    }
}
