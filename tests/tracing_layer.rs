//! `TracingLayer`: one `publish` span per delivered event (event name, id,
//! correlation id, sequence), one `handler` span per handler call, and an
//! error event for every failed call: "handler failed: ..." for an error,
//! "handler panicked: ..." for a panic.
//!
//! Each test captures what `tracing_subscriber::fmt` writes on its own
//! thread (a thread-local default subscriber, spans logged when created)
//! and compares it line by line.

use eventbus::layer::TracingLayer;
use eventbus::prelude::*;
use eventbus::Uuid;

use std::io;
use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// Everything the subscriber wrote.
#[derive(Clone, Default)]
struct Output(Arc<Mutex<Vec<u8>>>);

impl io::Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One line of output: the level, the spans it was written in (outermost
/// first, each `name{fields}`), and the message with its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Line {
    level: String,
    spans: Vec<String>,
    message: String,
}

impl Line {
    fn new(level: &str, spans: &[&str], message: &str) -> Self {
        Self {
            level: level.to_owned(),
            spans: spans.iter().map(|span| (*span).to_owned()).collect(),
            message: message.to_owned(),
        }
    }

    /// Splits `LEVEL span{..}:span{..}: message`; field values may hold
    /// `:` (handler paths), so spans are cut at their closing brace.
    fn parse(line: &str) -> Self {
        let line = line.trim_start();
        let (level, mut rest) = line.split_once(' ').expect("a level");
        let mut spans = Vec::new();
        while let Some(open) = rest.find('{') {
            if rest[..open].contains(' ') {
                break;
            }
            let close = open + rest[open..].find('}').expect("a closing brace");
            spans.push(rest[..=close].to_owned());
            rest = rest[close + 1..].strip_prefix(':').expect("a colon");
        }
        Self {
            level: level.to_owned(),
            spans,
            message: rest.trim_start().to_owned(),
        }
    }
}

/// Captures what `tracing` records on this thread until dropped.
struct Capture {
    output: Output,
    /// The subscriber stays this thread's default while this is held.
    _guard: Box<dyn std::any::Any>,
}

impl Capture {
    fn start() -> Self {
        let output = Output::default();
        let writer = output.clone();
        let guard = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .without_time()
            .with_target(false)
            .with_span_events(FmtSpan::NEW)
            .finish()
            .set_default();
        Self {
            output,
            _guard: Box::new(guard),
        }
    }

    fn lines(&self) -> Vec<Line> {
        let bytes = self.output.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(Line::parse)
            .collect()
    }
}

fn traced_bus() -> Bus {
    Bus::builder().layer(TracingLayer::new()).build().unwrap()
}

/// The `publish` span of an event, as the output shows it.
fn publish_span(event: &str, id: Uuid, correlation_id: Uuid, sequence: u64) -> String {
    format!(
        "publish{{event=\"{event}\" event_id={id} correlation_id={correlation_id} \
         sequence={sequence}}}"
    )
}

/// The `handler` span of a call, as the output shows it.
fn handler_span(handler: &str, event: &str, id: Uuid, correlation_id: Uuid) -> String {
    format!(
        "handler{{handler=\"{handler}\" event=\"{event}\" event_id={id} \
         correlation_id={correlation_id}}}"
    )
}

// --- spans ------------------------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Traced;

#[derive(Event, Debug, Clone, serde::Serialize, serde::Deserialize)]
struct TracedFollowUp;

#[subscribe(priority = 1)]
fn traced_first(_: &Traced, ctx: &Context) {
    ctx.publish(TracedFollowUp);
}

#[subscribe]
fn traced_second(_: &Traced) {}

#[subscribe]
fn traced_follow_up(_: &TracedFollowUp) {}

#[test]
fn each_delivered_event_gets_a_publish_span_and_each_call_a_handler_span() {
    let bus = traced_bus();
    let follow_ups = bus.record::<TracedFollowUp>();
    let capture = Capture::start();

    let report = bus.publish(Traced);

    assert!(report.is_ok(), "{report:?}");
    let root = report.event_id();
    let follow_up = follow_ups.envelopes()[0].id;
    assert_ne!(follow_up, root);
    let publish = publish_span("Traced", root, root, 1);
    let lines = capture.lines();
    assert_eq!(lines.len(), 5, "{lines:#?}");
    assert_eq!(
        lines[..3],
        [
            Line::new("INFO", &[&publish], "new"),
            Line::new(
                "INFO",
                &[
                    &publish,
                    &handler_span("tracing_layer::traced_first", "Traced", root, root)
                ],
                "new"
            ),
            Line::new(
                "INFO",
                &[
                    &publish,
                    &handler_span("tracing_layer::traced_second", "Traced", root, root)
                ],
                "new"
            ),
        ]
    );
    // The follow-up: its own id and sequence, the root's correlation. It
    // is delivered after the root's handlers, so only its own spans are
    // compared.
    assert_eq!(
        lines[3].spans.last(),
        Some(&publish_span("TracedFollowUp", follow_up, root, 2))
    );
    assert_eq!(lines[3].message, "new");
    let mut follow_up_spans = lines[3].spans.clone();
    follow_up_spans.push(handler_span(
        "tracing_layer::traced_follow_up",
        "TracedFollowUp",
        follow_up,
        root,
    ));
    assert_eq!(lines[4].spans, follow_up_spans);
    assert_eq!(lines[4].message, "new");
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Untraced;

#[subscribe]
fn untraced(_: &Untraced) {}

#[test]
fn without_the_layer_a_successful_publish_records_nothing() {
    let bus = Bus::new();
    let capture = Capture::start();

    let report = bus.publish(Untraced);

    assert!(report.is_ok(), "{report:?}");
    assert_eq!(capture.lines(), []);
}

// --- failures ---------------------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Declined;

#[subscribe]
fn declined(_: &Declined) -> Result<(), String> {
    Err("card declined".to_owned())
}

#[test]
fn a_failing_handler_logs_an_error_in_its_handler_span() {
    let bus = traced_bus();
    let capture = Capture::start();

    let report = bus.publish(Declined);

    assert_eq!(report.failures().len(), 1, "{report:?}");
    let id = report.event_id();
    let publish = publish_span("Declined", id, id, 1);
    let handler = handler_span("tracing_layer::declined", "Declined", id, id);
    assert_eq!(
        capture.lines(),
        [
            Line::new("INFO", &[&publish], "new"),
            Line::new("INFO", &[&publish, &handler], "new"),
            Line::new(
                "ERROR",
                &[&publish, &handler],
                "handler failed: card declined attempts=1"
            ),
        ]
    );
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Crashed;

#[subscribe]
fn crashed(_: &Crashed) {
    panic!("disk on fire");
}

#[test]
fn a_panicking_handler_logs_an_error_in_its_handler_span() {
    let bus = traced_bus();
    let capture = Capture::start();

    let report = bus.publish(Crashed);

    assert_eq!(report.failures().len(), 1, "{report:?}");
    let id = report.event_id();
    let publish = publish_span("Crashed", id, id, 1);
    let handler = handler_span("tracing_layer::crashed", "Crashed", id, id);
    assert_eq!(
        capture.lines(),
        [
            Line::new("INFO", &[&publish], "new"),
            Line::new("INFO", &[&publish, &handler], "new"),
            Line::new(
                "ERROR",
                &[&publish, &handler],
                "handler panicked: disk on fire attempts=1"
            ),
        ]
    );
}

// --- async handlers ---------------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Uploaded;

#[subscribe]
async fn uploaded(_: &Uploaded) -> Result<(), String> {
    tokio::task::yield_now().await;
    Err("bucket full".to_owned())
}

#[tokio::test]
async fn an_async_handler_gets_a_handler_span_and_logs_its_failure_in_it() {
    let bus = traced_bus();
    let capture = Capture::start();

    let report = bus.publish_async(Uploaded).await;

    assert_eq!(report.failures().len(), 1, "{report:?}");
    let id = report.event_id();
    let handler = handler_span("tracing_layer::uploaded", "Uploaded", id, id);
    let lines = capture.lines();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert_eq!(
        lines[0],
        Line::new("INFO", &[&publish_span("Uploaded", id, id, 1)], "new")
    );
    assert_eq!(lines[1].spans.last(), Some(&handler));
    assert_eq!(lines[1].message, "new");
    assert_eq!(lines[2].level, "ERROR");
    assert_eq!(lines[2].spans.last(), Some(&handler));
    assert_eq!(lines[2].message, "handler failed: bucket full attempts=1");
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Resized;

#[subscribe]
async fn resized(_: &Resized) {
    tokio::task::yield_now().await;
}

#[tokio::test]
async fn an_async_handler_span_is_inside_the_publish_span_of_its_event() {
    let bus = traced_bus();
    let capture = Capture::start();

    let report = bus.publish_async(Resized).await;

    assert!(report.is_ok(), "{report:?}");
    let id = report.event_id();
    let publish = publish_span("Resized", id, id, 1);
    let handler = handler_span("tracing_layer::resized", "Resized", id, id);
    assert_eq!(
        capture.lines(),
        [
            Line::new("INFO", &[&publish], "new"),
            Line::new("INFO", &[&publish, &handler], "new"),
        ]
    );
}
