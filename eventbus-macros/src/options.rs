//! Reading `key = value` options from one table per attribute.
//!
//! Each attribute (`#[subscribe(...)]`, `#[event(...)]`) lists its options
//! once, as a table of [`OptionSpec`]s: the key, how it is written, an
//! example, and the function that reads its value. The list of valid keys
//! in "unknown option" errors, the "needs a value" errors and the dispatch
//! to the reader all come from that table, so they cannot disagree.

use syn::meta::ParseNestedMeta;

use crate::ctxt::Ctxt;

/// Whether an option is written `key = value` or as a bare `key`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `key = value`; the example shows a whole option, `priority = 10`.
    Value,
    /// A bare `key`; the example shows the whole attribute, `#[event(local)]`.
    Flag,
}

/// Reads the value of one option into the attribute's options `T`.
pub type Reader<T> = fn(&mut T, &Ctxt, &ParseNestedMeta<'_>, &OptionSpec<T>) -> syn::Result<()>;

/// One option of an attribute.
pub struct OptionSpec<T> {
    pub key: &'static str,
    /// How the option is written in the list of valid keys, e.g.
    /// `priority = N`.
    pub syntax: &'static str,
    /// A complete example, shown in errors about the option's value.
    pub example: &'static str,
    pub form: Form,
    pub read: Reader<T>,
}

/// The options of one attribute, and the name errors call it by.
pub struct Options<T: 'static> {
    /// `subscribe` in "unknown subscribe option".
    pub attribute: &'static str,
    pub table: &'static [OptionSpec<T>],
}

impl<T> Options<T> {
    /// Every valid option as written, for "unknown option" errors:
    /// `` `a = N`, `b` or `c = "..."` ``.
    pub fn valid(&self) -> String {
        alternatives(self.table.iter().map(|spec| format!("`{}`", spec.syntax)))
    }

    /// Reads one option: reports an unknown key (with the list of valid
    /// ones), a repeated key, and a missing or unexpected value, then hands
    /// the value to the option's reader.
    ///
    /// `seen` collects the keys read so far in this attribute (and in the
    /// other attributes of the same item).
    pub fn read(
        &self,
        out: &mut T,
        cx: &Ctxt,
        seen: &mut Vec<String>,
        meta: &ParseNestedMeta<'_>,
    ) -> syn::Result<()> {
        let attribute = self.attribute;
        let Some(key) = meta.path.get_ident().map(ToString::to_string) else {
            return Err(meta.error(format!(
                "unknown {attribute} option; expected {}",
                self.valid()
            )));
        };
        if seen.contains(&key) {
            cx.error_spanned_by(
                &meta.path,
                format!("duplicate {attribute} option `{key}`; give it once"),
            );
        }
        seen.push(key.clone());
        let Some(spec) = self.table.iter().find(|spec| spec.key == key) else {
            return Err(meta.error(format!(
                "unknown {attribute} option `{key}`; expected {}",
                self.valid()
            )));
        };
        let example = spec.example;
        match (spec.form, meta.input.peek(syn::Token![=])) {
            (Form::Value, false) => Err(syn::Error::new_spanned(
                &meta.path,
                format!("the {attribute} option `{key}` needs a value, e.g. `{example}`"),
            )),
            (Form::Flag, true) => Err(syn::Error::new_spanned(
                &meta.path,
                format!("the {attribute} option `{key}` takes no value; write `{example}`"),
            )),
            (Form::Value, true) | (Form::Flag, false) => (spec.read)(out, cx, meta, spec),
        }
    }
}

/// Joins choices as a sentence does: `a, b or c`.
pub fn alternatives(choices: impl IntoIterator<Item = String>) -> String {
    let choices: Vec<String> = choices.into_iter().collect();
    match choices.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => choices.concat(),
    }
}
