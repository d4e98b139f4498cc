//! The crash test, on SQLite and PostgreSQL: a child process emits events
//! durably (a bus with the store as its journal, a handler and a sink that
//! write what they get to files) and is killed with SIGKILL at a random
//! moment, five times; a last child lets the relays catch up. Then every
//! event whose `emit` returned in any child has reached the handler and
//! the sink at least once, and every duplicate carries the same event id.

#[path = "../eventbus-store/tests/support/mod.rs"]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use eventbus::layer::BoxFuture;
use eventbus::prelude::*;
use eventbus::store::Store;
use eventbus::{EventRecord, Journal, SendOutcome, Sink};
use serde::{Deserialize, Serialize};
use support::TestDb;

#[derive(Event, Debug, Serialize, Deserialize)]
#[event(name = "crash.parcel_shipped")]
struct ParcelShipped {
    parcel: u64,
}

/// Where the child writes what it saw.
static DIR: OnceLock<PathBuf> = OnceLock::new();

/// Appends `line` to `file` in the child's directory: one write, so a kill
/// never leaves half a line.
fn append(file: &str, line: &str) {
    let path = DIR.get().expect("the child sets its directory").join(file);
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    file.write_all(format!("{line}\n").as_bytes()).unwrap();
}

#[subscribe]
fn on_parcel(shipped: &ParcelShipped, ctx: &Context) {
    append(
        "handled.log",
        &format!("{} {}", shipped.parcel, ctx.envelope().id),
    );
}

/// A sink that writes each record it is handed.
struct FileSink;

impl Sink for FileSink {
    fn send<'a>(&'a self, records: &'a [Arc<EventRecord>]) -> BoxFuture<'a, Vec<SendOutcome>> {
        Box::pin(async move {
            records
                .iter()
                .map(|record| {
                    let shipped: ParcelShipped = record.decode().unwrap();
                    append(
                        "sent.log",
                        &format!("{} {}", shipped.parcel, record.envelope.id),
                    );
                    SendOutcome::Sent
                })
                .collect()
        })
    }
}

/// The child process: run by the crash test, never on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the crash test runs it as its child process"]
async fn crash_child() {
    let url = std::env::var("EVENTBUS_CRASH_URL").expect("run by the crash test");
    let dir = std::env::var("EVENTBUS_CRASH_DIR").expect("run by the crash test");
    let round: u64 = std::env::var("EVENTBUS_CRASH_ROUND")
        .unwrap()
        .parse()
        .unwrap();
    DIR.set(PathBuf::from(dir)).unwrap();
    let store = Store::open(&url).await.unwrap();
    let bus = Bus::builder()
        .journal(store.clone())
        .sink("outbox", FileSink)
        .build()
        .unwrap();
    if round == u64::MAX {
        // The last child: the relays catch up with the whole log.
        let end = store
            .read_all(0, usize::MAX)
            .await
            .unwrap()
            .last()
            .map_or(0, |last| last.position);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let handlers = Journal::checkpoint(&store, "handlers").await.unwrap();
            let sink = Journal::checkpoint(&store, "sink:outbox").await.unwrap();
            if handlers >= end && sink >= end {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the relays did not catch up: {handlers} and {sink} of {end}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        bus.shutdown().await;
        return;
    }
    // Emits until killed, noting each event once `emit` has returned.
    let producers: Vec<_> = (0..4)
        .map(|producer| {
            let bus = bus.clone();
            tokio::spawn(async move {
                for n in 0.. {
                    let parcel = round * 1_000_000 + producer * 100_000 + n;
                    bus.emit(ParcelShipped { parcel }).await.unwrap();
                    append("acked.log", &parcel.to_string());
                }
            })
        })
        .collect();
    for producer in producers {
        producer.await.unwrap();
    }
}

/// Runs the child for `round` (`u64::MAX`: the last, which catches up).
fn child(db: &TestDb, dir: &Path, round: u64) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "crash_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("EVENTBUS_CRASH_URL", db.url())
        .env("EVENTBUS_CRASH_DIR", dir)
        .env("EVENTBUS_CRASH_ROUND", round.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// Each parcel in `file`, with every event id it was seen under.
fn seen(dir: &Path, file: &str) -> BTreeMap<u64, BTreeSet<String>> {
    let mut seen: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
    let text = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
    for line in text.lines() {
        let (parcel, id) = line.split_once(' ').unwrap();
        seen.entry(parcel.parse().unwrap())
            .or_default()
            .insert(id.to_owned());
    }
    seen
}

conformance! {
    async fn every_acknowledged_event_survives_five_kills(db: &TestDb) {
        // Creates the tables before the children race to.
        drop(db.open().await);
        let dir = std::env::temp_dir().join(format!("eventbus-crash-{}", eventbus::Envelope::generate().id));
        std::fs::create_dir_all(&dir).unwrap();
        let mut random = u64::from(
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos(),
        );
        for round in 0..5 {
            let mut running = child(db, &dir, round);
            random = random.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let moment = Duration::from_millis(400 + (random >> 33) % 1200);
            tokio::time::sleep(moment).await;
            running.kill().unwrap(); // SIGKILL
            running.wait().unwrap();
        }
        let status = child(db, &dir, u64::MAX).wait().unwrap();
        assert!(status.success(), "the last child catches up and exits: {status}");

        let acked: BTreeSet<u64> = std::fs::read_to_string(dir.join("acked.log"))
            .unwrap_or_default()
            .lines()
            .map(|line| line.parse().unwrap())
            .collect();
        assert!(!acked.is_empty(), "the children emitted before they were killed");
        let rounds: BTreeSet<u64> = acked.iter().map(|parcel| parcel / 1_000_000).collect();
        assert!(rounds.len() >= 3, "most rounds emitted something: {rounds:?}");
        let (handled, sent) = (seen(&dir, "handled.log"), seen(&dir, "sent.log"));
        eprintln!(
            "crash test: {} events acknowledged over {} rounds; {} handled, {} sent",
            acked.len(),
            rounds.len(),
            handled.len(),
            sent.len()
        );
        for (what, seen) in [("handler", &handled), ("sink", &sent)] {
            let missing: Vec<_> = acked.iter().filter(|parcel| !seen.contains_key(parcel)).collect();
            assert!(missing.is_empty(), "the {what} never got {} acknowledged events: {:?}", missing.len(), &missing[..missing.len().min(10)]);
            let split: Vec<_> = seen.iter().filter(|(_, ids)| ids.len() > 1).collect();
            assert!(split.is_empty(), "the {what} got one event under two ids: {split:?}");
        }
        // What both saw, they saw under the same id.
        for (parcel, ids) in &handled {
            if let Some(sent) = sent.get(parcel) {
                assert_eq!(ids, sent, "parcel {parcel}");
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
