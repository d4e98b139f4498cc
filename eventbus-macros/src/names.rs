//! Names of the helper items a macro writes beside the user's code.
//!
//! Helper items live in the macro's `const _: () = { .. };` block, where
//! they shadow the user's items of the same name for every path written in
//! that block. Helpers nobody reads are prefixed `__eventbus_`; those that
//! compiler errors show (a trait named in "the trait `Subscribable` is not
//! implemented for `String`") have plain names, made unique against the
//! user's own tokens by [`Taken::fresh`].

use std::collections::HashSet;

use proc_macro2::{Ident, Span, TokenStream, TokenTree};
use quote::ToTokens;

/// Every identifier in the user's tokens that the macro copies into its
/// block.
#[derive(Default)]
pub struct Taken(HashSet<String>);

impl Taken {
    /// Notes every identifier in `tokens`.
    pub fn add(&mut self, tokens: impl ToTokens) {
        self.add_stream(tokens.into_token_stream());
    }

    fn add_stream(&mut self, tokens: TokenStream) {
        for tree in tokens {
            match tree {
                TokenTree::Ident(ident) => {
                    self.0.insert(ident.to_string());
                }
                TokenTree::Group(group) => self.add_stream(group.stream()),
                TokenTree::Punct(_) | TokenTree::Literal(_) => {}
            }
        }
    }

    /// `base`, or `base_`, `base__`, .. if the user's tokens use it.
    pub fn fresh(&self, base: &str) -> Ident {
        let mut name = base.to_owned();
        while self.0.contains(&name) {
            name.push('_');
        }
        Ident::new(&name, Span::call_site())
    }
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::Taken;

    #[test]
    fn a_name_the_user_writes_gets_a_suffix() {
        let mut taken = Taken::default();
        taken.add(quote!(&shop::Subscribable<Vec<Subscribable_>>));
        assert_eq!(taken.fresh("Subscribable"), "Subscribable__");
        assert_eq!(taken.fresh("SerdeEvent"), "SerdeEvent");
    }
}
