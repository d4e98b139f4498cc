//! Standard Webhooks signatures: [`Secret`], the `webhook-signature`
//! header a sender writes, and [`verify`] for receivers.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::error::{VerifyError, WebhookError};

/// How far a receiver lets `webhook-timestamp` be from its clock by
/// default: 5 minutes, either way.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// The prefix of a Standard Webhooks secret.
const PREFIX: &str = "whsec_";

/// A signing key: `whsec_` then the key's bytes in base64, as Svix and
/// the Standard Webhooks libraries write it. Its `Debug` form hides the
/// key.
///
/// ```
/// use eventbus_http::Secret;
///
/// let secret: Secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD".parse().unwrap();
/// assert_eq!(
///     secret.sign("msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1649367553, br#"{"email":"test@example.com","username":"test_user"}"#),
///     "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
/// );
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    key: Vec<u8>,
}

impl Secret {
    /// A secret of these key bytes.
    #[must_use]
    pub fn from_bytes(key: impl Into<Vec<u8>>) -> Self {
        Self { key: key.into() }
    }

    /// A new random secret of 24 bytes (from UUID v4 randomness), for a
    /// receiver to be given.
    #[must_use]
    pub fn generate() -> Self {
        let mut key = Vec::with_capacity(32);
        key.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        key.extend_from_slice(&uuid::Uuid::new_v4().as_bytes()[..8]);
        Self { key }
    }

    /// The key's bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.key
    }

    /// The secret as `whsec_<base64>`, to hand to the receiver.
    #[must_use]
    pub fn to_whsec(&self) -> String {
        format!("{PREFIX}{}", STANDARD.encode(&self.key))
    }

    /// The signature of `body` sent as `id` at `timestamp` (unix
    /// seconds): `v1,` then the base64 HMAC-SHA256 of
    /// `"{id}.{timestamp}.{body}"`.
    #[must_use]
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        format!("v1,{}", STANDARD.encode(self.mac(id, timestamp, body)))
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> [u8; 32] {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes a key of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().into()
    }
}

impl std::str::FromStr for Secret {
    type Err = WebhookError;

    /// Reads `whsec_<base64>` (the prefix may be left out).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let encoded = text.strip_prefix(PREFIX).unwrap_or(text);
        let bad = |why: String| WebhookError::Secret { why };
        if encoded.is_empty() {
            return Err(bad("it is empty".into()));
        }
        let key = STANDARD
            .decode(encoded)
            .map_err(|error| bad(format!("it is not base64 after `whsec_` ({error})")))?;
        Ok(Self { key })
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(whsec_…, {} bytes)", self.key.len())
    }
}

/// The `webhook-signature` header's value for `body`: one `v1,`
/// signature per secret, separated by spaces (several while keys
/// rotate).
pub(crate) fn signature_header(
    secrets: &[Secret],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    let mut header = String::new();
    for secret in secrets {
        if !header.is_empty() {
            header.push(' ');
        }
        header.push_str(&secret.sign(id, timestamp, body));
    }
    header
}

/// Checks a webhook as a receiver: that `headers` carry a
/// `webhook-timestamp` within `tolerance` of this machine's clock and a
/// `webhook-signature` with at least one `v1,` signature of
/// `"{webhook-id}.{webhook-timestamp}.{body}"` under `secret`
/// (`whsec_<base64>`). Signatures are compared in constant time.
///
/// ```
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
///
/// use eventbus_http::{verify, HeaderMap, Secret, VerifyError, DEFAULT_TOLERANCE};
///
/// let secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
/// let body = br#"{"event":"order_placed","payload":{"item":"book"}}"#;
/// let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
/// let signature = secret.parse::<Secret>().unwrap().sign("0190-id", now, body);
///
/// let mut headers = HeaderMap::new();
/// headers.insert("webhook-id", "0190-id".parse().unwrap());
/// headers.insert("webhook-timestamp", now.to_string().parse().unwrap());
/// headers.insert("webhook-signature", signature.parse().unwrap());
/// assert_eq!(verify(secret, &headers, body, DEFAULT_TOLERANCE), Ok(()));
///
/// let tampered = br#"{"event":"order_placed","payload":{"item":"car"}}"#;
/// assert_eq!(verify(secret, &headers, tampered, DEFAULT_TOLERANCE), Err(VerifyError::NoMatch));
/// ```
///
/// # Errors
///
/// [`VerifyError`]: a header missing or unreadable, a timestamp outside
/// the tolerance, no `v1` signature (an empty `v1,` included), no
/// signature that matches, or a secret that is not `whsec_<base64>`.
pub fn verify(
    secret: &str,
    headers: &HeaderMap,
    body: &[u8],
    tolerance: Duration,
) -> Result<(), VerifyError> {
    let secret: Secret = secret
        .parse()
        .map_err(|error: WebhookError| VerifyError::Secret {
            why: error.to_string(),
        })?;
    let header = |name: &'static str| -> Result<&str, VerifyError> {
        let value = headers
            .get(name)
            .ok_or(VerifyError::Missing { header: name })?;
        value
            .to_str()
            .map_err(|_| VerifyError::Unreadable { header: name })
    };
    let id = header("webhook-id")?;
    let timestamp = header("webhook-timestamp")?;
    let signatures = header("webhook-signature")?;
    let sent: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| VerifyError::Timestamp {
            value: timestamp.to_owned(),
        })?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
        });
    let tolerance = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
    let off = now.saturating_sub(sent);
    if off.saturating_abs() > tolerance {
        return Err(VerifyError::Stale {
            seconds: off,
            tolerance,
        });
    }
    let expected = secret.mac(id, sent, body);
    let mut any = false;
    let mut matched = false;
    for (version, signature) in signatures
        .split(' ')
        .filter_map(|signature| signature.split_once(','))
    {
        if version != "v1" || signature.is_empty() {
            continue;
        }
        any = true;
        if let Ok(given) = STANDARD.decode(signature) {
            // Every signature is compared, in constant time, whether or not
            // one matched already.
            matched |= bool::from(given.ct_eq(&expected));
        }
    }
    match (any, matched) {
        (_, true) => Ok(()),
        (false, false) => Err(VerifyError::NoSignature),
        (true, false) => Err(VerifyError::NoMatch),
    }
}
