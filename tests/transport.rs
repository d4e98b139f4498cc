//! What any broker's consumer decides, without a broker: `transport::Judge`
//! runs a group's handlers (or the one a retry is for) on a delivery and
//! says ack, hand back, retry at the next tier, or dead queue. RabbitMQ
//! settles these verdicts; another broker implements `Delivery` and
//! passes the same tests.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use eventbus::prelude::*;
use eventbus::rabbitmq::transport::{Delivery, Failed, Judge, Next, Verdict};
use eventbus::{Envelope, EventRecord, Uuid};

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "judge.charged")]
struct Charged {
    cents: u32,
}

#[derive(Default)]
struct Calls {
    ok: AtomicU32,
    failing: AtomicU32,
    slow: AtomicU32,
}

#[subscribe(group = "judged")]
fn records_ok(_: &Charged, calls: State<Arc<Calls>>) {
    calls.ok.fetch_add(1, Ordering::SeqCst);
}

#[subscribe(group = "judged")]
fn declines(charged: &Charged, calls: State<Arc<Calls>>) -> Result<(), String> {
    calls.failing.fetch_add(1, Ordering::SeqCst);
    Err(format!("{} cents declined", charged.cents))
}

#[subscribe(group = "slowly")]
async fn takes_a_while(_: &Charged, calls: State<Arc<Calls>>) {
    calls.slow.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// A message as a broker would hand it over.
struct Fake {
    record: EventRecord,
    handler: Option<String>,
    tries: u32,
}

impl Delivery for Fake {
    fn record(&self) -> &EventRecord {
        &self.record
    }

    fn handler(&self) -> Option<&str> {
        self.handler.as_deref()
    }

    fn tries(&self) -> u32 {
        self.tries
    }
}

fn fake(id: Uuid, body: &str, handler: Option<&str>, tries: u32) -> Fake {
    Fake {
        record: EventRecord::new(
            "judge.charged",
            1,
            body.as_bytes().to_vec(),
            Envelope::new(id).with_source("broker"),
        ),
        handler: handler.map(str::to_owned),
        tries,
    }
}

fn judge(group: &str) -> (Judge, Arc<Calls>, Bus) {
    let calls = Arc::new(Calls::default());
    let bus = Bus::builder()
        .state(Arc::clone(&calls))
        .remote_groups(["judged", "slowly"])
        .build()
        .unwrap();
    (Judge::new(bus.clone(), group, 2, 100), calls, bus)
}

fn declines_path() -> String {
    eventbus::linked_handlers()
        .into_iter()
        .find(|handler| handler.handler_name().ends_with("::declines"))
        .unwrap()
        .handler_name()
        .to_owned()
}

#[tokio::test]
async fn a_failed_handler_goes_to_the_next_tier_alone_then_to_the_dead_queue() {
    let (judge, calls, _bus) = judge("judged");
    let id = Uuid::now_v7();
    let declines = declines_path();
    let first = judge.judge(&fake(id, r#"{"cents":250}"#, None, 0)).await;
    assert_eq!(
        first,
        Verdict::Failed(vec![Failed {
            handler: Some(declines.clone()),
            error: "250 cents declined".into(),
            tries: 1,
            next: Next::Retry(1),
        }])
    );
    assert_eq!(calls.ok.load(Ordering::SeqCst), 1);
    let second = judge
        .judge(&fake(id, r#"{"cents":250}"#, Some(&declines), 1))
        .await;
    assert!(matches!(&second, Verdict::Failed(failed) if failed[0].next == Next::Retry(2)));
    let last = judge
        .judge(&fake(id, r#"{"cents":250}"#, Some(&declines), 2))
        .await;
    assert!(
        matches!(&last, Verdict::Failed(failed) if failed[0].next == Next::Dead && failed[0].tries == 3)
    );
    // The retries ran the failed handler only.
    assert_eq!(calls.ok.load(Ordering::SeqCst), 1);
    assert_eq!(calls.failing.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn unreadable_messages_are_dead_at_once() {
    let (judge, calls, _bus) = judge("judged");
    let undecodable = judge
        .judge(&fake(Uuid::now_v7(), "not json", None, 0))
        .await;
    let Verdict::Failed(failed) = undecodable else {
        panic!("{undecodable:?}")
    };
    assert_eq!(failed.len(), 1);
    assert_eq!(
        (
            failed[0].handler.as_deref(),
            failed[0].tries,
            failed[0].next
        ),
        (None, 1, Next::Dead)
    );
    assert!(failed[0]
        .error
        .starts_with("the JSON for event `judge.charged` does not decode"));
    let mut unknown = fake(Uuid::now_v7(), r#"{"cents":1}"#, None, 0);
    unknown.record = EventRecord::new(
        "judge.chargd",
        1,
        br#"{"cents":1}"#.to_vec(),
        Envelope::generate(),
    );
    let Verdict::Failed(failed) = judge.judge(&unknown).await else {
        panic!("not failed")
    };
    assert_eq!(failed[0].next, Next::Dead);
    assert!(
        failed[0].error.contains("judge.charged"),
        "{}",
        failed[0].error
    );
    assert_eq!(calls.ok.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_handled_ok_runs_once_even_when_copies_overlap() {
    let (judge, calls, _bus) = judge("slowly");
    let id = Uuid::now_v7();
    let copies: Vec<Fake> = (0..3)
        .map(|_| fake(id, r#"{"cents":5}"#, None, 0))
        .collect();
    let verdicts = futures::future::join_all(copies.iter().map(|copy| judge.judge(copy))).await;
    assert_eq!(calls.slow.load(Ordering::SeqCst), 1);
    let duplicates = verdicts
        .iter()
        .filter(|verdict| **verdict == Verdict::Ack { duplicate: true })
        .count();
    assert_eq!((verdicts.len(), duplicates), (3, 2));
    assert!(verdicts.contains(&Verdict::Ack { duplicate: false }));
}

#[tokio::test]
async fn a_shut_down_bus_hands_the_message_back_and_says_stop() {
    let (judge, calls, bus) = judge("judged");
    bus.shutdown().await;
    let verdict = judge
        .judge(&fake(Uuid::now_v7(), r#"{"cents":5}"#, None, 0))
        .await;
    assert!(matches!(verdict, Verdict::Closed(_)), "{verdict:?}");
    assert_eq!(calls.ok.load(Ordering::SeqCst), 0);
    // Not remembered: another consumer runs it.
    let again = judge
        .judge(&fake(Uuid::now_v7(), r#"{"cents":5}"#, None, 0))
        .await;
    assert!(matches!(again, Verdict::Closed(_)));
}
