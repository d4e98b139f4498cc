//! The event console (`GET /`) in headless Chromium, driven through
//! chromedriver's `WebDriver` protocol: the page loads, lists the
//! handlers, draws the event graph, and shows an event published after it
//! opened. Needs the Debian packages `chromium` and `chromium-driver`:
//! without them the test says so and passes, except under `CI=true`.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use eventbus::http::{EventStream, Ingress};
use eventbus::prelude::*;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Event, Debug, Clone, Serialize, Deserialize)]
#[event(name = "console.order_placed")]
struct OrderPlaced {
    item: String,
}

#[derive(Event, Debug, Clone, Serialize, Deserialize)]
#[event(name = "console.order_shipped")]
struct OrderShipped {
    item: String,
}

/// No handler takes it: the console shows it all the same.
#[derive(Event, Debug, Clone, Serialize, Deserialize)]
#[event(name = "console.note_left")]
struct NoteLeft {
    text: String,
}

#[subscribe]
fn reserve_stock(_: &OrderPlaced) {}

#[subscribe(publishes = [OrderShipped])]
fn ship(order: &OrderPlaced, ctx: &Context) {
    ctx.publish(OrderShipped {
        item: order.item.clone(),
    });
}

/// chromedriver, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    /// Starts chromedriver on a free port; `None` (the test is skipped)
    /// when it is not installed and this is not CI.
    async fn start() -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = match Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(child) => child,
            Err(error) if std::env::var("CI").as_deref() == Ok("true") => panic!(
                "chromedriver is needed ({error}): `apt-get install -y chromium chromium-driver`"
            ),
            Err(error) => {
                eprintln!("skipped: chromedriver is not installed ({error})");
                return None;
            }
        };
        let driver = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            client: Client::builder(TokioExecutor::new()).build_http(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = driver.try_call("GET", "/status", None).await {
                if status["value"]["ready"] == json!(true) {
                    return Some(driver);
                }
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not start in 20 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn try_call(&self, method: &str, path: &str, body: Option<Value>) -> Option<Value> {
        let body = body.map_or_else(Bytes::new, |body| Bytes::from(body.to_string()));
        let request = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(Full::new(body))
            .unwrap();
        let response = self.client.request(request).await.ok()?;
        let body = response.into_body().collect().await.ok()?.to_bytes();
        serde_json::from_slice(&body).ok()
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.try_call(method, path, body)
            .await
            .unwrap_or_else(|| panic!("chromedriver did not answer {method} {path}"))
    }
}

/// Runs `script` in the page until it returns something other than
/// `null` or `false` (up to 20 s); that value.
async fn wait_for(driver: &Driver, session: &str, script: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let answer = driver
            .call(
                "POST",
                &format!("/session/{session}/execute/sync"),
                Some(json!({ "script": script, "args": [] })),
            )
            .await;
        let value = answer["value"].clone();
        if !value.is_null() && value != json!(false) {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "the page did not satisfy `{script}` in 20 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_lists_handlers_draws_the_graph_and_shows_live_events() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let events = EventStream::new();
    let bus = Bus::builder()
        .sink("console", events.clone())
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router = Ingress::new(bus.clone()).stream(events).router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let session = open(&driver, &format!("http://{address}/")).await;

    let handlers = wait_for(
        &driver,
        &session,
        "const rows = document.querySelectorAll('#handlers tbody tr'); \
         return rows.length ? [...rows].map(r => r.cells[0].textContent + ' ' + r.cells[1].textContent) : null;",
    )
    .await;
    assert_eq!(
        handlers,
        json!([
            "console.order_placed console::reserve_stock",
            "console.order_placed console::ship"
        ])
    );
    let drawn = wait_for(
        &driver,
        &session,
        "const labels = document.querySelectorAll('#graph svg text'); \
         return labels.length ? [...labels].map(t => t.textContent).sort() : null;",
    )
    .await;
    assert_eq!(
        drawn,
        json!([
            "console.order_placed",
            "console.order_shipped",
            "console::reserve_stock",
            "console::ship"
        ])
    );
    assert_eq!(
        wait_for(
            &driver,
            &session,
            "return document.querySelectorAll('#graph svg path.publishes').length;"
        )
        .await,
        json!(1)
    );

    // Published once the page listens: it appears, with its follow-up in
    // the same correlation chain.
    wait_for(&driver, &session, "return window.eventbusLive === true;").await;
    let id = bus
        .publish(OrderPlaced {
            item: "a console lamp".into(),
        })
        .event_id();
    let chain = wait_for(
        &driver,
        &session,
        "const chain = document.querySelector('#chains .chain'); \
         return chain && chain.querySelectorAll('li').length === 2 ? chain.innerText : null;",
    )
    .await;
    let chain = chain.as_str().unwrap();
    assert!(chain.contains(&format!("correlation {id}")), "{chain}");
    assert!(chain.contains("console.order_placed"), "{chain}");
    assert!(chain.contains("console.order_shipped"), "{chain}");
    assert!(chain.contains(&format!("caused by {id}")), "{chain}");
    assert!(chain.contains("a console lamp"), "{chain}");

    // An event no handler takes, its payload holding markup: shown, as
    // text.
    assert!(bus
        .publish(NoteLeft {
            text: "<img src=x onerror=alert(1)><b>bold</b>".into(),
        })
        .is_ok());
    let note = wait_for(
        &driver,
        &session,
        "const chains = [...document.querySelectorAll('#chains .chain')]; \
         const note = chains.find(c => c.innerText.includes('console.note_left')); \
         return note ? [note.innerText.includes('<b>bold</b>'), note.querySelectorAll('b, img').length] : null;",
    )
    .await;
    assert_eq!(note, json!([true, 0]));

    close(&driver, &session).await;
    bus.shutdown().await;
}

/// A headless Chromium session on `url`; its id.
async fn open(driver: &Driver, url: &str) -> String {
    let session = driver
        .call(
            "POST",
            "/session",
            Some(json!({ "capabilities": { "alwaysMatch": {
                "goog:chromeOptions": { "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900"] }
            }}})),
        )
        .await;
    let session = session["value"]["sessionId"].as_str().unwrap().to_owned();
    driver
        .call(
            "POST",
            &format!("/session/{session}/url"),
            Some(json!({ "url": url })),
        )
        .await;
    session
}

/// Saves a screenshot when `EVENTBUS_CONSOLE_SCREENSHOT` names a file (the
/// README's), then ends the session.
async fn close(driver: &Driver, session: &str) {
    if let Ok(path) = std::env::var("EVENTBUS_CONSOLE_SCREENSHOT") {
        let shot = driver
            .call("GET", &format!("/session/{session}/screenshot"), None)
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["value"].as_str().unwrap())
            .unwrap();
        std::fs::write(path, png).unwrap();
    }
    driver
        .call("DELETE", &format!("/session/{session}"), None)
        .await;
}
