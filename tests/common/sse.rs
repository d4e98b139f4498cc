//! A server-sent events client for tests, on hyper's client.
#![allow(dead_code)]

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// One event as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub event: String,
    pub id: String,
    pub data: String,
}

/// An open stream.
pub struct SseClient {
    body: Incoming,
    buffer: String,
}

impl SseClient {
    /// `GET url` with `last_id` as `Last-Event-ID`; panics unless it
    /// answers 200 with `text/event-stream`.
    pub async fn connect(url: &str, last_id: Option<&str>) -> Self {
        let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let mut request = hyper::Request::get(url);
        if let Some(id) = last_id {
            request = request.header("last-event-id", id);
        }
        let response = client
            .request(request.body(Empty::new()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Self {
            body: response.into_body(),
            buffer: String::new(),
        }
    }

    /// The next event (comments skipped); `None` when the stream ended.
    /// Panics after 10 s without one.
    pub async fn next(&mut self) -> Option<Received> {
        tokio::time::timeout(Duration::from_secs(10), self.read())
            .await
            .expect("an event within 10 s")
    }

    /// Whether the stream ends within 10 s, events still unread or not.
    pub async fn ends(&mut self) -> bool {
        tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(frame) = self.body.frame().await {
                if frame.is_err() {
                    break;
                }
            }
        })
        .await
        .is_ok()
    }

    async fn read(&mut self) -> Option<Received> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut received = Received {
                    event: String::new(),
                    id: String::new(),
                    data: String::new(),
                };
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("event:") {
                        value.trim_start().clone_into(&mut received.event);
                    } else if let Some(value) = line.strip_prefix("id:") {
                        value.trim_start().clone_into(&mut received.id);
                    } else if let Some(value) = line.strip_prefix("data:") {
                        value.trim_start().clone_into(&mut received.data);
                    }
                }
                if received.event.is_empty() && received.data.is_empty() {
                    continue; // a keep-alive comment
                }
                return Some(received);
            }
            let frame = self.body.frame().await?.ok()?;
            if let Ok(data) = frame.into_data() {
                self.buffer.push_str(std::str::from_utf8(&data).unwrap());
            }
        }
    }
}
