//! One try at a webhook: the POST through hyper's pooled client (TLS by
//! rustls with ring), and what its answer means for the next try.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::endpoint::Endpoint;
use crate::signature::signature_header;

const WEBHOOK_ID: HeaderName = HeaderName::from_static("webhook-id");
const WEBHOOK_TIMESTAMP: HeaderName = HeaderName::from_static("webhook-timestamp");
const WEBHOOK_SIGNATURE: HeaderName = HeaderName::from_static("webhook-signature");

/// How much of a refusing receiver's answer a dead letter quotes.
const EXCERPT: usize = 256;

/// What one try came to.
#[derive(Debug)]
pub(crate) enum Tried {
    /// A 2xx answer.
    Delivered,
    /// Worth another try: a network error, a timeout, 408, 429, 5xx;
    /// `after` is the receiver's `Retry-After`.
    Retry {
        /// Kept as `last_status` by durable deliveries.
        #[cfg_attr(not(feature = "store"), allow(dead_code))]
        status: Option<u16>,
        why: String,
        after: Option<Duration>,
    },
    /// `410 Gone`: the endpoint is to be disabled.
    Gone { why: String },
    /// Any other answer: final.
    Refused { why: String },
}

/// The HTTP client every endpoint shares (one connection pool).
#[derive(Clone)]
pub(crate) struct Client {
    inner: hyper_util::client::legacy::Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    user_agent: HeaderValue,
}

impl Client {
    pub(crate) fn new() -> Self {
        // ring, as everywhere in eventbus (aws-lc is a long C build);
        // rustls deprecates its provider for lacking post-quantum key
        // exchange, which no receiver of webhooks requires.
        #[allow(deprecated)]
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(provider)
            .expect("ring supports the default TLS versions")
            .https_or_http()
            .enable_http1()
            .build();
        let inner = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(https);
        Self {
            inner,
            user_agent: HeaderValue::from_static(concat!("eventbus/", env!("CARGO_PKG_VERSION"))),
        }
    }

    /// POSTs `body` to `endpoint` as webhook `id`, signed now, within
    /// `timeout` (the answer's body read included).
    pub(crate) async fn try_once(
        &self,
        endpoint: &Endpoint,
        id: &str,
        body: Bytes,
        timeout: Duration,
    ) -> Tried {
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| {
                i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
            });
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(endpoint.uri.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(USER_AGENT, self.user_agent.clone())
            .header(WEBHOOK_ID, id)
            .header(WEBHOOK_TIMESTAMP, timestamp);
        if !endpoint.secrets.is_empty() {
            let signature = signature_header(&endpoint.secrets, id, timestamp, &body);
            request = request.header(WEBHOOK_SIGNATURE, signature);
        }
        let request = match request.body(Full::new(body)) {
            Ok(request) => request,
            Err(error) => {
                return Tried::Refused {
                    why: format!("the request could not be built: {error}"),
                }
            }
        };
        let exchange = async {
            let response = self.inner.request(request).await?;
            let (parts, body) = response.into_parts();
            // The answer is read (to keep the connection reusable), only
            // its start kept.
            let answer = Limited::new(body, 64 * 1024)
                .collect()
                .await
                .map(http_body_util::Collected::to_bytes);
            Ok::<_, hyper_util::client::legacy::Error>((parts, answer))
        };
        match tokio::time::timeout(timeout, exchange).await {
            Err(_) => Tried::Retry {
                status: None,
                why: format!("no answer within {} ms", timeout.as_millis()),
                after: None,
            },
            Ok(Err(error)) => Tried::Retry {
                status: None,
                why: format!("the request failed: {}", chain(&error)),
                after: None,
            },
            Ok(Ok((parts, _))) if parts.status.is_success() => Tried::Delivered,
            Ok(Ok((parts, answer))) => {
                // Read only for an answer that is not a success.
                let excerpt = match answer {
                    Ok(body) => excerpt(&body),
                    Err(_) => String::from("(an answer over 64 KiB or cut short)"),
                };
                judge(parts.status, &parts.headers, &excerpt)
            }
        }
    }
}

/// What an answer means.
fn judge(status: StatusCode, headers: &http::HeaderMap, excerpt: &str) -> Tried {
    let code = status.as_u16();
    let why = if excerpt.is_empty() {
        format!("the endpoint answered {status}")
    } else {
        format!("the endpoint answered {status}: {excerpt}")
    };
    if status.is_success() {
        Tried::Delivered
    } else if status == StatusCode::GONE {
        Tried::Gone { why }
    } else if status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
    {
        Tried::Retry {
            status: Some(code),
            why,
            after: headers.get(RETRY_AFTER).and_then(retry_after),
        }
    } else {
        Tried::Refused { why }
    }
}

/// A `Retry-After` value: seconds, or an HTTP date.
fn retry_after(value: &HeaderValue) -> Option<Duration> {
    let text = value.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let format = time::format_description::parse_borrowed::<1>(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT",
    )
    .ok()?;
    let at = time::PrimitiveDateTime::parse(text, &format)
        .ok()?
        .assume_utc();
    let wait = at - time::OffsetDateTime::now_utc();
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

/// The start of an answer's body, as text on one line.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(EXCERPT)]);
    let mut line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    line.truncate(line.trim_end().len());
    if body.len() > EXCERPT {
        line.push('…');
    }
    line
}

/// An error and its sources, as one line.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_judged_as_the_spec_says() {
        let headers = http::HeaderMap::new();
        let kind = |code: u16| match judge(StatusCode::from_u16(code).unwrap(), &headers, "") {
            Tried::Delivered => "delivered",
            Tried::Retry { .. } => "retry",
            Tried::Gone { .. } => "gone",
            Tried::Refused { .. } => "refused",
        };
        assert_eq!(
            [200, 204, 408, 429, 500, 503, 410, 400, 401, 404, 301].map(kind),
            [
                "delivered",
                "delivered",
                "retry",
                "retry",
                "retry",
                "retry",
                "gone",
                "refused",
                "refused",
                "refused",
                "refused"
            ]
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(
            retry_after(&HeaderValue::from_static("7")),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_after(&HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT")),
            Some(Duration::ZERO)
        );
        let later = time::OffsetDateTime::now_utc() + time::Duration::seconds(120);
        let format = time::format_description::parse_borrowed::<1>(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT",
        )
        .unwrap();
        let header = HeaderValue::from_str(&later.format(&format).unwrap()).unwrap();
        let wait = retry_after(&header).unwrap();
        assert!((118..=120).contains(&wait.as_secs()), "{wait:?}");
        assert_eq!(retry_after(&HeaderValue::from_static("soon")), None);
    }

    #[test]
    fn excerpts_are_one_short_line() {
        assert_eq!(excerpt(b"no such\norder\n"), "no such order");
        let long = vec![b'x'; 300];
        let cut = excerpt(&long);
        assert_eq!(cut.chars().count(), 257);
        assert!(cut.ends_with('…'));
    }
}
