//! Webhooks out (`eventbus::http::WebhookSink`) against real receivers on
//! 127.0.0.1: the pinned body and headers, signatures the official
//! `standardwebhooks` crate accepts, the retry schedule with exact
//! attempt counts, 410 and other refusals, endpoints that hold back no
//! other, key rotation, and every webhook delivered once per endpoint.

#[path = "common/receiver.rs"]
mod receiver;

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use eventbus::http::{
    verify, Endpoint, EndpointStats, HeaderMap, RetrySchedule, Secret, WebhookFormat, WebhookSink,
    DEFAULT_TOLERANCE,
};
use eventbus::prelude::*;
use eventbus::{FailureKind, MemoryDeadLetters, SinkStats};
use receiver::{Answer, Receiver};
use serde::{Deserialize, Serialize};

#[derive(Event, Debug, Clone, Serialize, Deserialize)]
#[event(name = "order_placed")]
struct OrderPlaced {
    item: String,
    quantity: u32,
}

#[derive(Event, Debug, Clone, Serialize, Deserialize)]
#[event(name = "shop.cart_emptied")]
struct CartEmptied {
    cart: u32,
}

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const OTHER_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn order(item: &str) -> OrderPlaced {
    OrderPlaced {
        item: item.to_owned(),
        quantity: 2,
    }
}

/// An endpoint at `url` signed with `SECRET`.
fn signed(url: &str) -> Endpoint {
    Endpoint::new(url).unwrap().secret(SECRET).unwrap()
}

/// Tries 50 ms apart, three in all.
fn quick() -> RetrySchedule {
    RetrySchedule::new([0, 50, 50].map(Duration::from_millis)).unwrap()
}

fn bus(webhooks: &WebhookSink, dead: &MemoryDeadLetters) -> Bus {
    builder(webhooks, dead).build().unwrap()
}

/// A bus with the sink and the dead letters, to be finished by the test.
fn builder(webhooks: &WebhookSink, dead: &MemoryDeadLetters) -> eventbus::BusBuilder {
    Bus::builder()
        .sink("webhooks", webhooks.clone())
        .dead_letters(dead.clone())
}

fn sink_counts(bus: &Bus) -> Vec<(String, u64, u64, u64)> {
    bus.sinks()
        .into_iter()
        .map(|stats: SinkStats| (stats.name, stats.sent, stats.failed, stats.waiting))
        .collect()
}

/// Each endpoint's sent, failed, retrying counts and whether disabled.
fn endpoint_counts(webhooks: &WebhookSink) -> Vec<(u64, u64, u64, bool)> {
    webhooks
        .endpoints()
        .into_iter()
        .map(|stats: EndpointStats| {
            (
                stats.sent,
                stats.failed,
                stats.retrying,
                stats.disabled.is_some(),
            )
        })
        .collect()
}

fn now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// The top-level keys of a JSON object, in the order written.
fn keys_in_order(body: &str) -> Vec<String> {
    let json: serde_json::Value = serde_json::from_str(body).unwrap();
    let mut keys: Vec<(usize, String)> = json
        .as_object()
        .unwrap()
        .keys()
        .map(|key| (body.find(&format!("\"{key}\":")).unwrap(), key.clone()))
        .collect();
    keys.sort();
    keys.into_iter().map(|(_, key)| key).collect()
}

/// The dead letters' error texts.
fn errors(dead: &MemoryDeadLetters) -> Vec<String> {
    dead.letters()
        .into_iter()
        .map(|letter| letter.message)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_carries_the_pinned_body_and_headers_and_verifies_with_the_official_crate() {
    let receiver = Receiver::answering(204).await;
    let webhooks = WebhookSink::new();
    webhooks
        .register("order_placed", signed(&receiver.url))
        .unwrap();
    let dead = MemoryDeadLetters::new();
    let bus = bus(&webhooks, &dead);

    let report = bus.publish(order("book"));
    let id = report.event_id();
    bus.flush().await;

    let hits = receiver.hits();
    assert_eq!(hits.len(), 1);
    let hit = &hits[0];
    assert_eq!(hit.header("content-type"), "application/json");
    assert_eq!(hit.header("webhook-id"), id.to_string());
    let sent_at: i64 = hit.header("webhook-timestamp").parse().unwrap();
    assert!((now() - sent_at).abs() <= 5, "timestamp {sent_at}");
    let body = std::str::from_utf8(&hit.body).unwrap();
    let expected_start = format!(
        r#"{{"event":"order_placed","payload":{{"item":"book","quantity":2}},"id":"{id}","version":1,"timestamp":""#
    );
    assert!(body.starts_with(&expected_start), "{body}");
    let json = hit.json();
    assert_eq!(
        keys_in_order(body),
        [
            "event",
            "payload",
            "id",
            "version",
            "timestamp",
            "correlation_id",
            "causation_id"
        ]
    );
    assert_eq!(json["correlation_id"], id.to_string());
    assert_eq!(json["causation_id"], serde_json::Value::Null);

    let official = standardwebhooks::Webhook::new(SECRET).unwrap();
    official.verify(&hit.body, &hit.headers).unwrap();
    assert_eq!(
        verify(SECRET, &hit.headers, &hit.body, DEFAULT_TOLERANCE),
        Ok(())
    );
    let signature = hit.header("webhook-signature");
    assert!(signature.starts_with("v1,"), "{signature}");
    assert!(!signature.contains(' '), "{signature}");

    assert_eq!(sink_counts(&bus), [("webhooks".to_owned(), 1, 0, 0)]);
    assert_eq!(endpoint_counts(&webhooks), [(1, 0, 0, false)]);
    assert!(dead.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standard_format_sends_type_timestamp_and_data() {
    let receiver = Receiver::answering(200).await;
    let webhooks = WebhookSink::new();
    let endpoint = Endpoint::new(&receiver.url)
        .unwrap()
        .format(WebhookFormat::Standard);
    webhooks.register("order_placed", endpoint).unwrap();
    let dead = MemoryDeadLetters::new();
    let bus = bus(&webhooks, &dead);
    assert!(bus.publish(order("lamp")).is_ok());
    bus.flush().await;

    let hits = receiver.hits();
    assert_eq!(hits.len(), 1);
    let json = hits[0].json();
    let body = std::str::from_utf8(&hits[0].body).unwrap();
    assert_eq!(keys_in_order(body), ["type", "timestamp", "data"]);
    assert_eq!(json["type"], "order_placed");
    assert_eq!(
        json["data"],
        serde_json::json!({"item": "lamp", "quantity": 2})
    );
    let timestamp = json["timestamp"].as_str().unwrap();
    assert!(
        timestamp.ends_with('Z') && timestamp.len() >= 20,
        "{timestamp}"
    );
    assert!(hits[0].headers.get("webhook-signature").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_is_tried_on_the_schedule_then_dead_lettered_with_status_and_excerpt() {
    let receiver = Receiver::start(|_| Answer::Status(500, "database down\n")).await;
    let schedule = RetrySchedule::new([0, 100, 200].map(Duration::from_millis)).unwrap();
    let webhooks = WebhookSink::builder().retry_schedule(schedule).build();
    webhooks.register("order_placed", &receiver.url).unwrap();
    let dead = MemoryDeadLetters::new();
    let bus = bus(&webhooks, &dead);

    let id = bus.publish(order("desk")).event_id();
    bus.flush().await;

    let hits = receiver.hits();
    assert_eq!(hits.len(), 3);
    for hit in &hits {
        assert_eq!(hit.header("webhook-id"), id.to_string());
    }
    assert!(hits[1].at - hits[0].at >= Duration::from_millis(100));
    assert!(hits[2].at - hits[1].at >= Duration::from_millis(200));
    assert_eq!(
        errors(&dead),
        [format!(
            "sink `webhooks` could not send the record: webhook to {} failed after 3 tries: the endpoint answered 500 Internal Server Error: \
             database down",
            receiver.url
        )]
    );
    let letter = &dead.letters()[0];
    assert_eq!(letter.kind, FailureKind::SinkFailed);
    assert_eq!(letter.attempts, 3);
    assert_eq!(letter.sink.as_deref(), Some("webhooks"));
    assert_eq!(letter.record.as_ref().unwrap().envelope.id, id);
    assert_eq!(sink_counts(&bus), [("webhooks".to_owned(), 0, 1, 0)]);
    assert_eq!(endpoint_counts(&webhooks), [(0, 1, 0, false)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_waits_as_long_as_retry_after_says() {
    let receiver = Receiver::start(|nth| match nth {
        0 => Answer::RetryAfter(429, "1"),
        _ => Answer::Status(200, ""),
    })
    .await;
    // Scheduled 10 ms, asked for 1 s: the receiver's wish wins, up to the
    // longest wait (5 s).
    let schedule = RetrySchedule::new([0, 10, 5_000].map(Duration::from_millis)).unwrap();
    let webhooks = WebhookSink::builder().retry_schedule(schedule).build();
    webhooks.register("order_placed", &receiver.url).unwrap();
    let dead = MemoryDeadLetters::new();
    let bus = bus(&webhooks, &dead);
    assert!(bus.publish(order("chair")).is_ok());
    bus.flush().await;

    let hits = receiver.hits();
    assert_eq!(hits.len(), 2);
    let waited = hits[1].at - hits[0].at;
    assert!(waited >= Duration::from_secs(1), "waited {waited:?}");
    assert!(waited < Duration::from_secs(5), "waited {waited:?}");
    assert_eq!(hits[0].header("webhook-id"), hits[1].header("webhook-id"));
    assert!(dead.is_empty());
    assert_eq!(endpoint_counts(&webhooks), [(1, 0, 0, false)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_410_disables_the_endpoint_until_it_is_registered_again() {
    let receiver = Receiver::start(|nth| match nth {
        0 => Answer::Status(410, "gone"),
        _ => Answer::Status(200, ""),
    })
    .await;
    let webhooks = WebhookSink::builder().retry_schedule(quick()).build();
    webhooks.register("order_placed", &receiver.url).unwrap();
    let dead = MemoryDeadLetters::new();
    let bus = bus(&webhooks, &dead);

    let first = bus.publish(order("one")).event_id();
    bus.flush().await;
    let second = bus.publish(order("two")).event_id();
    bus.flush().await;

    assert_eq!(receiver.hits().len(), 1);
    let disabled = webhooks.endpoints()[0].disabled.clone();
    assert_eq!(
        disabled,
        Some(format!("it answered 410 Gone to event {first}"))
    );
    assert_eq!(
        errors(&dead),
        [
            format!(
                "sink `webhooks` could not send the record: webhook to {} failed after 1 try: \
                 the endpoint answered 410 Gone: gone",
                receiver.url
            ),
            format!(
                "sink `webhooks` could not send the record: webhook to {} not sent: the endpoint is disabled (it answered 410 Gone to event \
                 {first}); register it again to enable it",
                receiver.url
            ),
        ]
    );
    let ids: Vec<_> = dead
        .letters()
        .iter()
        .map(|letter| letter.record.as_ref().unwrap().envelope.id)
        .collect();
    assert_eq!(ids, [first, second]);
    assert_eq!(sink_counts(&bus), [("webhooks".to_owned(), 0, 2, 0)]);

    webhooks.register("order_placed", &receiver.url).unwrap();
    assert!(bus.publish(order("three")).is_ok());
    bus.flush().await;
    assert_eq!(receiver.hits().len(), 2);
    assert_eq!(endpoint_counts(&webhooks), [(1, 2, 0, false)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_400_is_final_after_one_try() {
    let receiver = Receiver::start(|_| Answer::Status(400, "{\"error\":\"no such item\"}")).await;
    let webhooks = WebhookSink::builder().retry_schedule(quick()).build();
    webhooks.register("order_placed", &receiver.url).unwrap();
    let dead = MemoryDeadLetters::new();
    let bus = bus(&webhooks, &dead);
    assert!(bus.publish(order("ghost")).is_ok());
    bus.flush().await;

    assert_eq!(receiver.hits().len(), 1);
    assert_eq!(
        errors(&dead),
        [format!(
            "sink `webhooks` could not send the record: webhook to {} failed after 1 try: the endpoint answered 400 Bad Request: \
             {{\"error\":\"no such item\"}}",
            receiver.url
        )]
    );
    assert_eq!(endpoint_counts(&webhooks), [(0, 1, 0, false)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_slower_than_the_timeout_is_tried_again() {
    let receiver = Receiver::start(|_| Answer::Slow(Duration::from_millis(600), 200)).await;
    let webhooks = WebhookSink::builder()
        .timeout(Duration::from_millis(150))
        .retry_schedule(RetrySchedule::new([0, 50].map(Duration::from_millis)).unwrap())
        .build();
    webhooks.register("order_placed", &receiver.url).unwrap();
    let dead = MemoryDeadLetters::new();
    let bus = bus(&webhooks, &dead);
    assert!(bus.publish(order("slowpoke")).is_ok());
    bus.flush().await;

    assert_eq!(receiver.hits().len(), 2);
    assert_eq!(
        errors(&dead),
        [format!(
            "sink `webhooks` could not send the record: webhook to {} failed after 2 tries: no answer within 150 ms",
            receiver.url
        )]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_endpoint_holds_back_no_other() {
    let slow = Receiver::start(|_| Answer::Slow(Duration::from_secs(2), 200)).await;
    let fast = Receiver::answering(200).await;
    let webhooks = WebhookSink::builder().concurrency(1).build();
    webhooks.register("order_placed", &slow.url).unwrap();
    webhooks.register("order_placed", &fast.url).unwrap();
    let dead = MemoryDeadLetters::new();
    let bus = bus(&webhooks, &dead);
    for n in 0..5 {
        assert!(bus.publish(order(&format!("item {n}"))).is_ok());
    }

    // All five reach the fast endpoint while the slow one still works on
    // its first (one try at a time, 2 s each).
    let fast_hits = fast.wait_for(5).await;
    let slow_hits = slow.wait_for(1).await;
    let slow_answered = slow_hits[0].at + Duration::from_secs(2);
    assert!(fast_hits[4].at < slow_answered);

    bus.flush().await;
    assert_eq!(slow.hits().len(), 5);
    assert_eq!(
        endpoint_counts(&webhooks),
        [(5, 0, 0, false), (5, 0, 0, false)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_keys_rotate_each_webhook_carries_both_signatures() {
    let receiver = Receiver::answering(200).await;
    let webhooks = WebhookSink::new();
    webhooks
        .register("order_placed", signed(&receiver.url))
        .unwrap();
    let dead = MemoryDeadLetters::new();
    let bus = bus(&webhooks, &dead);
    assert!(bus.publish(order("before")).is_ok());
    bus.flush().await;

    // Rotation: both keys, then only the new one.
    let both = signed(&receiver.url).secret(OTHER_SECRET).unwrap();
    webhooks.register("order_placed", both).unwrap();
    assert!(bus.publish(order("during")).is_ok());
    bus.flush().await;
    let new_only = Endpoint::new(&receiver.url)
        .unwrap()
        .secret(OTHER_SECRET)
        .unwrap();
    webhooks.register("order_placed", new_only).unwrap();
    assert!(bus.publish(order("after")).is_ok());
    bus.flush().await;

    let hits = receiver.hits();
    assert_eq!(hits.len(), 3);
    let old = standardwebhooks::Webhook::new(SECRET).unwrap();
    let new = standardwebhooks::Webhook::new(OTHER_SECRET).unwrap();
    let signatures: Vec<usize> = hits
        .iter()
        .map(|hit| hit.header("webhook-signature").split(' ').count())
        .collect();
    assert_eq!(signatures, [1, 2, 1]);
    let verdicts: Vec<(bool, bool)> = hits
        .iter()
        .map(|hit| {
            (
                old.verify(&hit.body, &hit.headers).is_ok(),
                new.verify(&hit.body, &hit.headers).is_ok(),
            )
        })
        .collect();
    assert_eq!(verdicts, [(true, false), (true, true), (false, true)]);
    let stranger = Secret::generate().to_whsec();
    assert!(verify(
        &stranger,
        &hits[1].headers,
        &hits[1].body,
        DEFAULT_TOLERANCE
    )
    .is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patterns_pick_the_events_and_unregister_stops_them() {
    let shop = Receiver::answering(200).await;
    let all = Receiver::answering(200).await;
    let webhooks = WebhookSink::new();
    webhooks.register("shop.*", &shop.url).unwrap();
    webhooks.register("*", &all.url).unwrap();
    let dead = MemoryDeadLetters::new();
    let bus = bus(&webhooks, &dead);
    assert!(bus.publish(CartEmptied { cart: 1 }).is_ok());
    assert!(bus.publish(order("pen")).is_ok());
    bus.flush().await;
    let names = |receiver: &Receiver| -> Vec<String> {
        receiver
            .hits()
            .iter()
            .map(|hit| hit.json()["event"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&shop), ["shop.cart_emptied"]);
    let mut both = names(&all);
    both.sort();
    assert_eq!(both, ["order_placed", "shop.cart_emptied"]);

    assert!(webhooks.unregister("shop.*", &shop.url));
    assert!(!webhooks.unregister("shop.*", &shop.url));
    assert!(bus.publish(CartEmptied { cart: 2 }).is_ok());
    bus.flush().await;
    assert_eq!(names(&shop).len(), 1);
    assert_eq!(names(&all).len(), 3);
    assert_eq!(webhooks.endpoints().len(), 1);
    assert_eq!(webhooks.endpoints()[0].patterns, ["*"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_events_reach_three_endpoints_once_each() {
    let receivers = [
        Receiver::answering(200).await,
        Receiver::answering(200).await,
        Receiver::answering(200).await,
    ];
    let webhooks = WebhookSink::new();
    for receiver in &receivers {
        webhooks.register("order_placed", &receiver.url).unwrap();
    }
    let dead = MemoryDeadLetters::new();
    let bus = bus(&webhooks, &dead);
    for n in 0..1_000 {
        bus.emit(order(&format!("item {n}"))).await.unwrap();
    }
    bus.flush().await;
    let ids: HashSet<String> = receivers[0]
        .hits()
        .iter()
        .map(|hit| hit.header("webhook-id").to_owned())
        .collect();
    assert_eq!(ids.len(), 1_000);
    for receiver in &receivers {
        let hits = receiver.hits();
        assert_eq!(hits.len(), 1_000);
        let got: HashSet<String> = hits
            .iter()
            .map(|hit| hit.header("webhook-id").to_owned())
            .collect();
        assert_eq!(got, ids);
    }
    assert_eq!(sink_counts(&bus), [("webhooks".to_owned(), 1_000, 0, 0)]);
    assert_eq!(endpoint_counts(&webhooks), [(1_000, 0, 0, false); 3]);
    assert!(dead.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_is_pending_at_shutdown_goes_to_the_dead_letters_as_abandoned() {
    let receiver = Receiver::answering(503).await;
    let schedule = RetrySchedule::new([0, 60_000].map(Duration::from_millis)).unwrap();
    let webhooks = WebhookSink::builder().retry_schedule(schedule).build();
    webhooks.register("order_placed", &receiver.url).unwrap();
    let dead = MemoryDeadLetters::new();
    let bus = builder(&webhooks, &dead)
        .shutdown_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let id = bus.publish(order("late")).event_id();
    receiver.wait_for(1).await;
    bus.shutdown().await;

    let letters = dead.letters();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].kind, FailureKind::Abandoned);
    assert_eq!(letters[0].record.as_ref().unwrap().envelope.id, id);
    assert_eq!(
        letters[0].message,
        format!(
            "sink `webhooks` could not send the record: the bus shut down before the webhook \
             to {} was delivered (its `shutdown_timeout` ran out)",
            receiver.url
        )
    );
    assert_eq!(sink_counts(&bus), [("webhooks".to_owned(), 0, 1, 0)]);
    assert_eq!(endpoint_counts(&webhooks), [(0, 1, 0, false)]);
}

#[test]
fn verify_refuses_tampering_stale_timestamps_and_empty_signatures() {
    let secret: Secret = SECRET.parse().unwrap();
    let body = br#"{"event":"order_placed","payload":{"item":"book","quantity":1}}"#;
    let headers = |timestamp: i64, signature: &str| {
        let mut headers = HeaderMap::new();
        headers.insert("webhook-id", "evt_1".parse().unwrap());
        headers.insert("webhook-timestamp", timestamp.to_string().parse().unwrap());
        headers.insert("webhook-signature", signature.parse().unwrap());
        headers
    };
    let now = now();
    let good = secret.sign("evt_1", now, body);
    assert_eq!(
        verify(SECRET, &headers(now, &good), body, DEFAULT_TOLERANCE),
        Ok(())
    );

    let tampered = br#"{"event":"order_placed","payload":{"item":"book","quantity":9}}"#;
    assert_eq!(
        verify(SECRET, &headers(now, &good), tampered, DEFAULT_TOLERANCE)
            .unwrap_err()
            .to_string(),
        "no signature in `webhook-signature` matches the body under this secret: the body was \
         changed, or it was signed with another secret"
    );
    let old = now - 6 * 60;
    let signed_then = secret.sign("evt_1", old, body);
    assert_eq!(
        verify(SECRET, &headers(old, &signed_then), body, DEFAULT_TOLERANCE)
            .unwrap_err()
            .to_string(),
        "`webhook-timestamp` is 360 s from this machine's clock, more than the 300 s allowed: \
         a replayed webhook or a clock that is off"
    );
    assert_eq!(
        verify(
            SECRET,
            &headers(old, &signed_then),
            body,
            Duration::from_secs(400)
        ),
        Ok(())
    );
    assert_eq!(
        verify(SECRET, &headers(now, "v1,"), body, DEFAULT_TOLERANCE)
            .unwrap_err()
            .to_string(),
        "`webhook-signature` holds no `v1,<base64>` signature"
    );
    // A wrong signature next to the right one: either key verifies.
    let wrong = format!("v1,AAAA {good}");
    assert_eq!(
        verify(SECRET, &headers(now, &wrong), body, DEFAULT_TOLERANCE),
        Ok(())
    );
    let mut missing = headers(now, &good);
    missing.remove("webhook-timestamp");
    assert_eq!(
        verify(SECRET, &missing, body, DEFAULT_TOLERANCE)
            .unwrap_err()
            .to_string(),
        "the `webhook-timestamp` header is missing: the request is not a signed webhook"
    );
}

#[test]
fn signatures_match_the_specs_test_vector() {
    let secret: Secret = SECRET.parse().unwrap();
    assert_eq!(
        secret.sign(
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            1_649_367_553,
            br#"{"email":"test@example.com","username":"test_user"}"#
        ),
        "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
    );
    let generated = Secret::generate();
    assert_eq!(generated.as_bytes().len(), 24);
    assert_eq!(generated.to_whsec().parse::<Secret>().unwrap(), generated);
    assert_eq!(
        "whsec_???".parse::<Secret>().unwrap_err().to_string(),
        "the webhook secret cannot be used: it is not base64 after `whsec_` (Invalid symbol 63, \
         offset 0.); write `whsec_` then the key in base64, as `Secret::generate().to_whsec()` \
         makes"
    );
}

/// `cargo run --example webhook_bus --features http -- urls...` with `env`:
/// its exit code and what it printed.
fn run_webhook_bus(urls: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let output = std::process::Command::new(env!("CARGO"))
        .args([
            "run",
            "--quiet",
            "--example",
            "webhook_bus",
            "--features",
            "http",
            "--",
        ])
        .args(urls)
        .envs(env.iter().copied())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs the example");
    let stdout = String::from_utf8(output.stdout).unwrap();
    (output.status.code(), stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_bus_example_reports_each_endpoint_and_exits_1_when_one_failed() {
    let good = Receiver::answering(200).await;
    let bad = Receiver::start(|_| Answer::Status(400, "unknown user")).await;
    let urls = [good.url.clone(), bad.url.clone()];
    let (status, stdout) = tokio::task::spawn_blocking(move || {
        run_webhook_bus(
            &[&urls[0], &urls[1]],
            &[("EVENTBUS_WEBHOOK_SECRET", SECRET)],
        )
    })
    .await
    .unwrap();
    assert_eq!(
        stdout,
        format!(
            "{}: delivered\n{}: failed after 1 try: the endpoint answered 400 Bad Request: \
             unknown user\n",
            good.url, bad.url
        )
    );
    assert_eq!(status, Some(1));
    let hits = good.hits();
    assert_eq!(hits.len(), 1);
    let json = hits[0].json();
    assert_eq!(json["event"], "order_placed");
    assert_eq!(
        json["payload"],
        serde_json::json!({"item": "Python Book", "quantity": 1, "user_id": 42})
    );
    standardwebhooks::Webhook::new(SECRET)
        .unwrap()
        .verify(&hits[0].body, &hits[0].headers)
        .unwrap();

    let url = good.url.clone();
    let (status, stdout) = tokio::task::spawn_blocking(move || run_webhook_bus(&[&url], &[]))
        .await
        .unwrap();
    assert_eq!(
        (status, stdout),
        (Some(0), format!("{}: delivered\n", good.url))
    );
    assert!(good.hits()[1].headers.get("webhook-signature").is_none());
}

/// The README's Python receiver, as a script: the body on stdin, the
/// headers as JSON in `HEADERS`.
const PYTHON_RECEIVER: &str = r#"
import json, os, sys
from standardwebhooks import Webhook

wh = Webhook(os.environ["EVENTBUS_WEBHOOK_SECRET"])
body = sys.stdin.buffer.read()
headers = json.loads(os.environ["HEADERS"])
event = wh.verify(body, headers)  # raises WebhookVerificationError
print(event["event"], event["payload"]["item"])
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_standardwebhooks_package_verifies_a_webhook() {
    use std::io::Write as _;
    use std::process::{Command, Stdio};

    let python = Command::new("python3")
        .args(["-c", "import standardwebhooks"])
        .output();
    if !python.is_ok_and(|output| output.status.success()) {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "python3 with the `standardwebhooks` package is needed: \
             `pip3 install standardwebhooks`"
        );
        eprintln!("skipped: python3 with the `standardwebhooks` package is not installed");
        return;
    }
    let receiver = Receiver::answering(200).await;
    let webhooks = WebhookSink::new();
    webhooks
        .register("order_placed", signed(&receiver.url))
        .unwrap();
    let dead = MemoryDeadLetters::new();
    let bus = bus(&webhooks, &dead);
    assert!(bus.publish(order("teapot")).is_ok());
    bus.flush().await;
    let hit = receiver.hits().remove(0);
    let headers: serde_json::Map<String, serde_json::Value> = hit
        .headers
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_str().unwrap().into()))
        .collect();
    let run = |body: &[u8]| {
        let mut child = Command::new("python3")
            .args(["-c", PYTHON_RECEIVER])
            .env("EVENTBUS_WEBHOOK_SECRET", SECRET)
            .env(
                "HEADERS",
                serde_json::Value::Object(headers.clone()).to_string(),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(body).unwrap();
        let output = child.wait_with_output().unwrap();
        (
            output.status.success(),
            String::from_utf8(output.stdout).unwrap(),
            String::from_utf8(output.stderr).unwrap(),
        )
    };
    let (ok, stdout, stderr) = run(&hit.body);
    assert!(ok, "{stderr}");
    assert_eq!(stdout, "order_placed teapot\n");
    let tampered = String::from_utf8(hit.body.to_vec())
        .unwrap()
        .replace("teapot", "kettle");
    let (ok, _, stderr) = run(tampered.as_bytes());
    assert!(!ok);
    assert!(stderr.contains("WebhookVerificationError"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_endpoint_at_its_backlog_holds_back_no_other() {
    // Two slow successes, then 503s to be retried in a minute.
    let failing = Receiver::start(|nth| match nth {
        0 | 1 => Answer::Slow(Duration::from_millis(300), 200),
        _ => Answer::Status(503, ""),
    })
    .await;
    let fast = Receiver::answering(200).await;
    let schedule = RetrySchedule::new([0, 60_000].map(Duration::from_millis)).unwrap();
    let webhooks = WebhookSink::builder()
        .retry_schedule(schedule)
        .concurrency(1)
        .backlog(4)
        .build();
    webhooks.register("order_placed", &failing.url).unwrap();
    webhooks.register("order_placed", &fast.url).unwrap();
    let dead = MemoryDeadLetters::new();
    let bus = builder(&webhooks, &dead)
        .shutdown_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    for n in 0..20 {
        assert!(bus.publish(order(&format!("item {n}"))).is_ok());
    }
    // Within the wait, not a minute later.
    fast.wait_for(20).await;
    let refused = format!(
        "sink `webhooks` could not send the record: webhook to {} not sent: the endpoint holds \
         4 webhooks, its backlog, and is failing; raise `WebhookSinkBuilder::backlog` or give \
         the sink a store",
        failing.url
    );
    let letters = errors(&dead);
    assert!(!letters.is_empty());
    assert!(
        letters.iter().all(|letter| *letter == refused),
        "{letters:?}"
    );
    bus.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_while_the_sink_waits_for_room_counts_each_record_once() {
    let slow = Receiver::start(|_| Answer::Slow(Duration::from_secs(3), 200)).await;
    let webhooks = WebhookSink::builder().concurrency(1).backlog(2).build();
    webhooks.register("order_placed", &slow.url).unwrap();
    let dead = MemoryDeadLetters::new();
    let bus = builder(&webhooks, &dead)
        .shutdown_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    for n in 0..5 {
        assert!(bus.publish(order(&format!("item {n}"))).is_ok());
    }
    slow.wait_for(1).await;
    bus.shutdown().await;

    assert_eq!(sink_counts(&bus), [("webhooks".to_owned(), 0, 5, 0)]);
    let mut ids: Vec<_> = dead
        .letters()
        .iter()
        .map(|letter| {
            assert_eq!(letter.kind, FailureKind::Abandoned);
            letter.record.as_ref().unwrap().envelope.id
        })
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!((dead.len(), ids.len()), (5, 5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_410_fails_at_once_the_webhooks_waiting_for_a_retry() {
    let receiver = Receiver::start(|nth| match nth {
        0 => Answer::Status(503, ""),
        _ => Answer::Status(410, ""),
    })
    .await;
    // A retry an hour away: only the 410 ends it early.
    let schedule = RetrySchedule::new([0, 3_600_000].map(Duration::from_millis)).unwrap();
    let webhooks = WebhookSink::builder().retry_schedule(schedule).build();
    webhooks.register("order_placed", &receiver.url).unwrap();
    let dead = MemoryDeadLetters::new();
    let bus = bus(&webhooks, &dead);
    let first = bus.publish(order("first")).event_id();
    receiver.wait_for(1).await;
    let second = bus.publish(order("second")).event_id();
    tokio::time::timeout(Duration::from_secs(10), bus.flush())
        .await
        .expect("the waiting webhook fails with the 410, not an hour later");

    assert_eq!(receiver.hits().len(), 2);
    // The waiting one is failed as the endpoint is disabled, then the one
    // that met the 410.
    assert_eq!(
        errors(&dead),
        [
            format!(
                "sink `webhooks` could not send the record: webhook to {} failed after 1 try: \
                 the endpoint is disabled (it answered 410 Gone to event {second}); register \
                 it again to enable it",
                receiver.url
            ),
            format!(
                "sink `webhooks` could not send the record: webhook to {} failed after 1 try: \
                 the endpoint answered 410 Gone",
                receiver.url
            ),
        ]
    );
    let ids: Vec<_> = dead
        .letters()
        .iter()
        .map(|letter| letter.record.as_ref().unwrap().envelope.id)
        .collect();
    assert_eq!(ids, [first, second]);
    assert_eq!(endpoint_counts(&webhooks), [(0, 2, 0, true)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_wait_of_the_schedule_comes_before_the_first_try() {
    let receiver = Receiver::answering(200).await;
    let schedule = RetrySchedule::new([300, 0].map(Duration::from_millis)).unwrap();
    let webhooks = WebhookSink::builder().retry_schedule(schedule).build();
    webhooks.register("order_placed", &receiver.url).unwrap();
    let dead = MemoryDeadLetters::new();
    let bus = bus(&webhooks, &dead);
    let published = std::time::Instant::now();
    assert!(bus.publish(order("patient")).is_ok());
    bus.flush().await;
    let hits = receiver.hits();
    assert_eq!(hits.len(), 1);
    assert!(hits[0].at - published >= Duration::from_millis(300));
    assert_eq!(endpoint_counts(&webhooks), [(1, 0, 0, false)]);
}
