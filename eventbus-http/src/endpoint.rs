//! [`Endpoint`]: where webhooks go, signed with which secrets, in which
//! body format; the event patterns an endpoint is registered for; and
//! [`EndpointStats`], what became of its deliveries.

use http::Uri;

use crate::error::WebhookError;
use crate::signature::Secret;

/// The body a webhook carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum WebhookFormat {
    /// The event's record, as the original `WebhookBus` posts it plus the
    /// envelope: `{"event": name, "payload": <event JSON>, "id": "<uuid>",
    /// "version": n, "timestamp": "<RFC 3339>", "correlation_id":
    /// "<uuid>", "causation_id": "<uuid>"|null}`.
    #[default]
    Record,
    /// The Standard Webhooks payload: `{"type": name, "timestamp":
    /// "<RFC 3339>", "data": <event JSON>}`.
    Standard,
}

/// A receiver of webhooks: its URL, the secrets its webhooks are signed
/// with, and the body format it takes. Register it with
/// [`WebhookSink::register`](crate::WebhookSink::register); a plain URL
/// there is an endpoint with no secret in the default format.
///
/// ```
/// use eventbus_http::{Endpoint, WebhookFormat};
///
/// let endpoint = Endpoint::new("https://example.com/hooks")?
///     .secret("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")?
///     .format(WebhookFormat::Standard);
/// assert_eq!(endpoint.url(), "https://example.com/hooks");
/// # Ok::<(), eventbus_http::WebhookError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub(crate) url: String,
    pub(crate) uri: Uri,
    pub(crate) secrets: Vec<Secret>,
    pub(crate) format: WebhookFormat,
    /// Whether secrets or the format were set: registering it again then
    /// replaces the endpoint's settings.
    pub(crate) configured: bool,
}

impl Endpoint {
    /// An endpoint at `url`, which must be an absolute `http://` or
    /// `https://` URL.
    ///
    /// # Errors
    ///
    /// [`WebhookError::Url`] saying what is wrong with `url`.
    pub fn new(url: &str) -> Result<Self, WebhookError> {
        let bad = |why: &str| WebhookError::Url {
            url: url.to_owned(),
            why: why.to_owned(),
        };
        let uri: Uri = url
            .parse()
            .map_err(|error: http::uri::InvalidUri| bad(&format!("it does not parse ({error})")))?;
        match uri.scheme_str() {
            Some("http" | "https") => {}
            Some(other) => return Err(bad(&format!("its scheme is `{other}`"))),
            None => return Err(bad("it has no scheme")),
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err(bad("it has no host"));
        }
        Ok(Self {
            url: url.to_owned(),
            uri,
            secrets: Vec::new(),
            format: WebhookFormat::default(),
            configured: false,
        })
    }

    /// Signs its webhooks with `secret` (`whsec_<base64>`) as well: with
    /// two secrets while keys rotate, each webhook carries both
    /// signatures, and a receiver holding either key accepts it.
    ///
    /// # Errors
    ///
    /// [`WebhookError::Secret`] when `secret` is not `whsec_<base64>`.
    pub fn secret(self, secret: &str) -> Result<Self, WebhookError> {
        Ok(self.signed_with(secret.parse()?))
    }

    /// Signs its webhooks with `secret` as well (see
    /// [`secret`](Self::secret)).
    #[must_use]
    pub fn signed_with(mut self, secret: Secret) -> Self {
        self.secrets.push(secret);
        self.configured = true;
        self
    }

    /// Sends its webhooks in `format` (default
    /// [`WebhookFormat::Record`]).
    #[must_use]
    pub fn format(mut self, format: WebhookFormat) -> Self {
        self.format = format;
        self.configured = true;
        self
    }

    /// Its URL, as given.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// What [`WebhookSink::register`](crate::WebhookSink::register) takes as
/// an endpoint: a URL (`&str`, `String`) or an [`Endpoint`].
pub trait IntoEndpoint {
    /// The endpoint.
    ///
    /// # Errors
    ///
    /// [`WebhookError::Url`] for a URL that cannot be a webhook's target.
    fn into_endpoint(self) -> Result<Endpoint, WebhookError>;
}

impl IntoEndpoint for Endpoint {
    fn into_endpoint(self) -> Result<Endpoint, WebhookError> {
        Ok(self)
    }
}

impl IntoEndpoint for &str {
    fn into_endpoint(self) -> Result<Endpoint, WebhookError> {
        Endpoint::new(self)
    }
}

impl IntoEndpoint for String {
    fn into_endpoint(self) -> Result<Endpoint, WebhookError> {
        Endpoint::new(&self)
    }
}

impl IntoEndpoint for &String {
    fn into_endpoint(self) -> Result<Endpoint, WebhookError> {
        Endpoint::new(self)
    }
}

/// The events an endpoint is registered for: a name, every name under a
/// prefix (`shop.*`), or every name (`*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Pattern {
    Name(String),
    /// The prefix with its dot: `shop.` for `shop.*`.
    Prefix(String),
    All,
}

impl Pattern {
    pub(crate) fn parse(pattern: &str) -> Result<Self, WebhookError> {
        let bad = |why: &str| WebhookError::Pattern {
            pattern: pattern.to_owned(),
            why: why.to_owned(),
        };
        if pattern.is_empty() {
            return Err(bad("it is empty"));
        }
        if pattern == "*" {
            return Ok(Self::All);
        }
        if pattern.chars().any(char::is_whitespace) {
            return Err(bad("it holds whitespace"));
        }
        match pattern.find('*') {
            None => Ok(Self::Name(pattern.to_owned())),
            Some(at) if at + 1 == pattern.len() && pattern[..at].ends_with('.') && at > 1 => {
                Ok(Self::Prefix(pattern[..at].to_owned()))
            }
            Some(_) => Err(bad(
                "`*` may only stand alone or end the pattern after a dot",
            )),
        }
    }

    pub(crate) fn matches(&self, name: &str) -> bool {
        match self {
            Self::Name(own) => own == name,
            Self::Prefix(prefix) => name.starts_with(prefix.as_str()),
            Self::All => true,
        }
    }

    pub(crate) fn as_text(&self) -> String {
        match self {
            Self::Name(name) => name.clone(),
            Self::Prefix(prefix) => format!("{prefix}*"),
            Self::All => "*".to_owned(),
        }
    }
}

/// What became of the webhooks of one endpoint; from
/// [`WebhookSink::endpoints`](crate::WebhookSink::endpoints).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointStats {
    /// Its URL, as registered.
    pub url: String,
    /// The event patterns it is registered for, in registration order.
    pub patterns: Vec<String>,
    /// Webhooks it accepted (a 2xx answer).
    pub sent: u64,
    /// Webhooks that failed for good (to the dead letters).
    pub failed: u64,
    /// Webhooks waiting for their next attempt after a failed one.
    pub retrying: u64,
    /// Why the endpoint is disabled (it answered `410 Gone`), or `None`
    /// while it takes webhooks. Register it again to enable it.
    pub disabled: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_names_prefixes_and_everything() {
        let shop = Pattern::parse("shop.*").unwrap();
        assert!(shop.matches("shop.order_placed"));
        assert!(shop.matches("shop.orders.paid"));
        assert!(!shop.matches("shop"));
        assert!(!shop.matches("shopping.cart"));
        let name = Pattern::parse("order_placed").unwrap();
        assert!(name.matches("order_placed"));
        assert!(!name.matches("order_placed_v2"));
        assert!(Pattern::parse("*").unwrap().matches("anything"));
        assert_eq!(shop.as_text(), "shop.*");
    }

    #[test]
    fn bad_patterns_say_what_to_write() {
        for (pattern, why) in [
            ("", "it is empty"),
            (
                "shop*",
                "`*` may only stand alone or end the pattern after a dot",
            ),
            (
                "*.paid",
                "`*` may only stand alone or end the pattern after a dot",
            ),
            (
                ".*",
                "`*` may only stand alone or end the pattern after a dot",
            ),
            ("order placed", "it holds whitespace"),
        ] {
            let error = Pattern::parse(pattern).unwrap_err();
            assert_eq!(
                error,
                WebhookError::Pattern {
                    pattern: pattern.to_owned(),
                    why: why.to_owned()
                }
            );
        }
        assert_eq!(
            Pattern::parse("").unwrap_err().to_string(),
            "`` is not an event pattern: it is empty; write an event's name (`order_placed`), \
             a prefix ending in `.*` (`shop.*`), or `*` for every event"
        );
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        let why = |url: &str| match Endpoint::new(url).unwrap_err() {
            WebhookError::Url { why, .. } => why,
            other => panic!("{other:?}"),
        };
        assert_eq!(why("ftp://example.com/x"), "its scheme is `ftp`");
        assert_eq!(why("/hooks"), "it has no scheme");
        assert_eq!(why("http://"), "it does not parse (empty string)");
        assert_eq!(
            why("http://exa mple.com/"),
            "it does not parse (invalid uri character)"
        );
        assert!(Endpoint::new("http://127.0.0.1:9/hook").is_ok());
    }
}
