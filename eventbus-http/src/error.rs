//! The errors of this crate: [`WebhookError`] for what a sender is given,
//! [`VerifyError`] for what a receiver is sent.

/// A webhook endpoint, pattern or secret that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// The URL cannot be a webhook's target.
    #[error("`{url}` is not a webhook URL: {why}; write an absolute `http://` or `https://` URL such as `https://example.com/hooks`")]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        why: String,
    },
    /// The event pattern matches no event name.
    #[error("`{pattern}` is not an event pattern: {why}; write an event's name (`order_placed`), a prefix ending in `.*` (`shop.*`), or `*` for every event")]
    Pattern {
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        why: String,
    },
    /// The secret is not a Standard Webhooks secret.
    #[error("the webhook secret cannot be used: {why}; write `whsec_` then the key in base64, as `Secret::generate().to_whsec()` makes")]
    Secret {
        /// What is wrong with it.
        why: String,
    },
    /// The retry schedule is empty.
    #[error("a retry schedule needs at least one attempt; write `RetrySchedule::new([Duration::ZERO])` for a single try")]
    EmptySchedule,
}

/// Why [`verify`](crate::verify) refused a webhook.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A header the signature needs is missing.
    #[error("the `{header}` header is missing: the request is not a signed webhook")]
    Missing {
        /// The header's name.
        header: &'static str,
    },
    /// A header is not visible ASCII.
    #[error("the `{header}` header is not readable text")]
    Unreadable {
        /// The header's name.
        header: &'static str,
    },
    /// `webhook-timestamp` is not a number of seconds.
    #[error("`webhook-timestamp` is `{value}`, not unix seconds")]
    Timestamp {
        /// The header's value.
        value: String,
    },
    /// `webhook-timestamp` is too far from this machine's clock: an old
    /// webhook replayed, or a clock that is off.
    #[error("`webhook-timestamp` is {seconds} s from this machine's clock, more than the {tolerance} s allowed: a replayed webhook or a clock that is off")]
    Stale {
        /// Now minus the timestamp, in seconds (negative: in the future).
        seconds: i64,
        /// The tolerance, in seconds.
        tolerance: i64,
    },
    /// `webhook-signature` holds no `v1` signature (an empty `v1,`
    /// included).
    #[error("`webhook-signature` holds no `v1,<base64>` signature")]
    NoSignature,
    /// No signature matches the body under the secret.
    #[error("no signature in `webhook-signature` matches the body under this secret: the body was changed, or it was signed with another secret")]
    NoMatch,
    /// The receiver's own secret is not `whsec_<base64>`.
    #[error("the receiver's secret cannot be used: {why}")]
    Secret {
        /// What is wrong with it.
        why: String,
    },
}
