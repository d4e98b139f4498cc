//! A webhook receiver for tests: an axum server on a free port of
//! 127.0.0.1 that answers each request as the test scripts it and keeps
//! what it was sent.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

/// How the receiver answers one request.
#[derive(Debug, Clone)]
pub enum Answer {
    /// This status, with this body.
    Status(u16, &'static str),
    /// This status with `Retry-After: <value>`.
    RetryAfter(u16, &'static str),
    /// This status after a wait.
    Slow(Duration, u16),
}

/// One request, as received.
#[derive(Debug, Clone)]
pub struct Hit {
    /// When it arrived.
    pub at: Instant,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Hit {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no `{name}` header"))
            .to_str()
            .unwrap()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

type Script = Arc<dyn Fn(usize) -> Answer + Send + Sync>;

#[derive(Clone)]
struct Shared {
    script: Arc<Mutex<Script>>,
    hits: Arc<Mutex<Vec<Hit>>>,
    count: Arc<AtomicUsize>,
}

/// A running receiver; stops when dropped.
pub struct Receiver {
    pub url: String,
    shared: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// A receiver whose answer to its `n`th request (from 0) is
    /// `script(n)`.
    pub async fn start(script: impl Fn(usize) -> Answer + Send + Sync + 'static) -> Self {
        let shared = Shared {
            script: Arc::new(Mutex::new(Arc::new(script))),
            hits: Arc::new(Mutex::new(Vec::new())),
            count: Arc::new(AtomicUsize::new(0)),
        };
        let app = Router::new()
            .route("/hook", post(hook))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            url: format!("http://{address}/hook"),
            shared,
            server,
        }
    }

    /// Answers every request with `status`.
    pub async fn answering(status: u16) -> Self {
        Self::start(move |_| Answer::Status(status, "")).await
    }

    /// Answers from now on as `script` says.
    pub fn script(&self, script: impl Fn(usize) -> Answer + Send + Sync + 'static) {
        *self.shared.script.lock().unwrap() = Arc::new(script);
    }

    /// What it received so far, in arrival order.
    pub fn hits(&self) -> Vec<Hit> {
        let mut hits = self.shared.hits.lock().unwrap().clone();
        hits.sort_by_key(|hit| hit.at);
        hits
    }

    /// Waits (up to 30 s) until it has received `count` requests.
    pub async fn wait_for(&self, count: usize) -> Vec<Hit> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let hits = self.hits();
            if hits.len() >= count {
                return hits;
            }
            assert!(
                Instant::now() < deadline,
                "the receiver got {} requests in 30 s, not {count}",
                hits.len()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn hook(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    // Kept on arrival: a sender that gives up waiting drops the answer.
    shared.hits.lock().unwrap().push(Hit {
        at: Instant::now(),
        headers,
        body,
    });
    let nth = shared.count.fetch_add(1, Ordering::SeqCst);
    let script = Arc::clone(&shared.script.lock().unwrap());
    match script(nth) {
        Answer::Status(code, text) => (StatusCode::from_u16(code).unwrap(), text).into_response(),
        Answer::RetryAfter(code, after) => (
            StatusCode::from_u16(code).unwrap(),
            [("retry-after", after)],
            "busy",
        )
            .into_response(),
        Answer::Slow(wait, code) => {
            tokio::time::sleep(wait).await;
            StatusCode::from_u16(code).unwrap().into_response()
        }
    }
}
