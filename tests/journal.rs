//! A bus with a journal: `emit` returns once the event is committed and the
//! handler relay delivers it from the log; a failed commit hands the event
//! back with nothing delivered; `publish` runs the handlers at once and
//! appends the event as handled, so nothing runs twice.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use eventbus::prelude::*;
use eventbus::{
    EmitErrorKind, Envelope, EventRecord, FailureKind, Journal, MemoryJournal, Origin, Uuid,
};
use serde::{Deserialize, Serialize};

#[derive(Event, Debug, Serialize, Deserialize)]
#[event(name = "journal.invoice_sent")]
struct InvoiceSent {
    invoice: u32,
}

/// The invoices the handler saw, with the envelope id it saw them under.
static SEEN: Mutex<Vec<(u32, Uuid, Origin)>> = Mutex::new(Vec::new());

#[subscribe]
fn on_invoice(sent: &InvoiceSent, ctx: &Context) {
    SEEN.lock()
        .unwrap()
        .push((sent.invoice, ctx.envelope().id, ctx.envelope().origin));
}

/// Tests in this file share `SEEN`: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What the handler saw of `invoice`.
fn seen(invoice: u32) -> Vec<(Uuid, Origin)> {
    SEEN.lock()
        .unwrap()
        .iter()
        .filter(|(seen, _, _)| *seen == invoice)
        .map(|(_, id, origin)| (*id, *origin))
        .collect()
}

fn journaled() -> (Bus, MemoryJournal) {
    let journal = MemoryJournal::new();
    let bus = Bus::builder().journal(journal.clone()).build().unwrap();
    (bus, journal)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emit_returns_after_the_commit_and_the_relay_delivers_it_once() {
    let _serial = SERIAL.lock().await;
    let (bus, journal) = journaled();

    bus.emit(InvoiceSent { invoice: 1 }).await.unwrap();
    // Committed when `emit` returns, not yet handled.
    let logged = journal.records();
    assert_eq!(logged.len(), 1);
    assert_eq!((logged[0].position, logged[0].handled), (1, false));
    assert_eq!(logged[0].stream, "journal.invoice_sent");
    assert_eq!(logged[0].record.payload_str(), Some(r#"{"invoice":1}"#));

    bus.idle().await;
    assert_eq!(
        seen(1),
        [(logged[0].record.envelope.id, Origin::Local)],
        "the relay delivers it once, under the envelope it was logged with"
    );
    assert_eq!(
        journal.records().len(),
        1,
        "a relayed event is not appended again"
    );
    bus.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_commit_hands_the_emitted_event_back_and_delivers_nothing() {
    let _serial = SERIAL.lock().await;
    let (bus, journal) = journaled();
    journal.fail_appends(true);

    let refused = bus.emit(InvoiceSent { invoice: 2 }).await.unwrap_err();
    assert_eq!(refused.kind(), EmitErrorKind::NotCommitted);
    assert_eq!(
        refused.to_string(),
        "the bus's journal did not store the event (the journal refused the append \
         (`MemoryJournal::fail_appends`)); `journal::InvoiceSent` was handed back and nothing \
         was delivered: emit it again"
    );
    assert_eq!(refused.into_inner().invoice, 2);
    bus.idle().await;
    assert_eq!(seen(2), []);
    assert_eq!(journal.records().len(), 0);
    bus.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_runs_the_handlers_at_once_and_logs_the_event_as_handled() {
    let _serial = SERIAL.lock().await;
    let (bus, journal) = journaled();

    let report = bus.publish(InvoiceSent { invoice: 3 });
    assert_eq!(report.handled(), 1);
    assert_eq!(seen(3), [(report.event_id(), Origin::Local)]);
    // `publish_async` awaits its commit: after it, both are in the log.
    let awaited = bus.publish_async(InvoiceSent { invoice: 4 }).await;
    assert!(awaited.is_ok());
    bus.idle().await;
    let logged = journal.records();
    assert_eq!(logged.len(), 2);
    assert!(logged.iter().all(|logged| logged.handled));
    assert_eq!(logged[0].record.envelope.id, report.event_id());
    assert_eq!(logged[1].record.envelope.id, awaited.event_id());
    // Handled once: the relay skips what was handled.
    assert_eq!(seen(3).len(), 1);
    assert_eq!(seen(4).len(), 1);
    bus.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_commit_of_a_publish_goes_to_on_error_and_the_dead_letters_with_its_record() {
    let _serial = SERIAL.lock().await;
    let journal = MemoryJournal::new();
    journal.fail_appends(true);
    let dead = eventbus::MemoryDeadLetters::new();
    let bus = Bus::builder()
        .journal(journal.clone())
        .dead_letters(dead.clone())
        .build()
        .unwrap();

    let report = bus.publish(InvoiceSent { invoice: 5 });
    assert!(
        report.is_ok(),
        "the handlers ran; the commit is not awaited"
    );
    let awaited = bus.publish_async(InvoiceSent { invoice: 6 }).await;
    assert_eq!(awaited.failures().len(), 1);
    assert_eq!(awaited.failures()[0].kind(), FailureKind::Abandoned);
    assert_eq!(
        awaited.failures()[0].message(),
        "the journal did not store the event: the journal refused the append \
         (`MemoryJournal::fail_appends`)"
    );
    bus.try_emit(InvoiceSent { invoice: 7 }).unwrap();

    for _ in 0..100 {
        if dead.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let letters = dead.letters();
    let mut ids: Vec<Uuid> = letters.iter().map(|letter| letter.event_id).collect();
    ids.sort();
    assert_eq!(letters.len(), 3, "{letters:#?}");
    assert!(letters
        .iter()
        .all(|letter| letter.kind == FailureKind::Abandoned));
    assert!(ids.contains(&report.event_id()));
    assert!(ids.contains(&awaited.event_id()));
    let unsent: Vec<&str> = letters
        .iter()
        .map(|letter| letter.record.as_ref().unwrap().payload_str().unwrap())
        .collect();
    assert!(unsent.contains(&r#"{"invoice":7}"#));
    bus.idle().await;
    assert_eq!(seen(7), [], "an event the journal refused is not delivered");
    bus.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_from_outside_are_logged_but_replayed_ones_are_not() {
    let _serial = SERIAL.lock().await;
    let (bus, journal) = journaled();

    let remote = Envelope::generate().with_source("http");
    let remote_id = remote.id;
    let record = EventRecord::from_event(&InvoiceSent { invoice: 8 }, remote).unwrap();
    assert_eq!(bus.deliver_async(record).await.unwrap().handled(), 1);
    let replayed = EventRecord::from_event(
        &InvoiceSent { invoice: 9 },
        Envelope::generate().with_origin(Origin::Replay),
    )
    .unwrap();
    // Read back from a log: it is not logged again, and the handler,
    // which does not say `#[subscribe(replay)]`, does not run.
    assert_eq!(bus.deliver_async(replayed).await.unwrap().handled(), 0);
    bus.idle().await;

    let logged = journal.records();
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].record.envelope.id, remote_id);
    assert_eq!(logged[0].record.envelope.origin, Origin::Remote);
    assert_eq!(logged[0].record.envelope.source.as_deref(), Some("http"));
    assert!(logged[0].handled);
    assert_eq!(seen(8), [(remote_id, Origin::Remote)]);
    assert_eq!(seen(9), []);
    bus.shutdown().await;
    let _ = Arc::new(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_bus_on_the_same_journal_goes_on_from_the_relay_checkpoint() {
    let _serial = SERIAL.lock().await;
    let (first, journal) = journaled();
    for invoice in 10..13 {
        first.emit(InvoiceSent { invoice }).await.unwrap();
    }
    first.idle().await;
    first.shutdown().await;
    assert_eq!(journal.checkpoint("handlers").await.unwrap(), 3);

    // Another process appends an event nobody has handled yet.
    let record = Arc::new(
        EventRecord::from_event(&InvoiceSent { invoice: 13 }, Envelope::generate()).unwrap(),
    );
    let entry = eventbus::JournalEntry::new("journal.invoice_sent", Arc::clone(&record), false);
    assert_eq!(journal.append(&[entry]).await.unwrap(), [4]);

    let second = Bus::builder().journal(journal.clone()).build().unwrap();
    for _ in 0..200 {
        if !seen(13).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(seen(13), [(record.envelope.id, Origin::Remote)]);
    for invoice in 10..13 {
        assert_eq!(
            seen(invoice).len(),
            1,
            "invoice {invoice} is not delivered twice"
        );
    }
    assert_eq!(journal.checkpoint("handlers").await.unwrap(), 4);
    second.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_to_and_emit_to_file_the_event_in_the_stream_they_name() {
    let _serial = SERIAL.lock().await;
    let (bus, journal) = journaled();

    let published = bus.publish_to("invoices-2026", InvoiceSent { invoice: 20 });
    bus.emit_to("invoices-2026", InvoiceSent { invoice: 21 })
        .await
        .unwrap();
    bus.emit(InvoiceSent { invoice: 22 }).await.unwrap();
    bus.idle().await;

    let streams: Vec<(String, bool)> = journal
        .records()
        .into_iter()
        .map(|logged| (logged.stream, logged.handled))
        .collect();
    assert_eq!(
        streams,
        [
            ("invoices-2026".to_owned(), true),
            ("invoices-2026".to_owned(), false),
            ("journal.invoice_sent".to_owned(), false)
        ]
    );
    assert_eq!(seen(20), [(published.event_id(), Origin::Local)]);
    assert_eq!(seen(21).len(), 1);
    assert_eq!(seen(22).len(), 1);
    bus.shutdown().await;
}

/// Keeps the invoice of each record it is handed; fails everything while
/// `down`.
#[derive(Default)]
struct Outbox {
    sent: Mutex<Vec<u32>>,
    down: std::sync::atomic::AtomicBool,
}

struct SharedOutbox(Arc<Outbox>);

impl eventbus::Sink for SharedOutbox {
    fn send<'a>(
        &'a self,
        records: &'a [Arc<EventRecord>],
    ) -> eventbus::layer::BoxFuture<'a, Vec<eventbus::SendOutcome>> {
        Box::pin(async move {
            records
                .iter()
                .map(|record| {
                    if self.0.down.load(std::sync::atomic::Ordering::Acquire) {
                        return eventbus::SendOutcome::Retry("down".into());
                    }
                    let sent: InvoiceSent = record.decode().unwrap();
                    self.0.sent.lock().unwrap().push(sent.invoice);
                    eventbus::SendOutcome::Sent
                })
                .collect()
        })
    }
}

fn with_outbox(journal: &MemoryJournal, outbox: &Arc<Outbox>) -> Bus {
    Bus::builder()
        .journal(journal.clone())
        .sink("outbox", SharedOutbox(Arc::clone(outbox)))
        .sink_retry(eventbus::SinkRetry::new(
            3,
            Duration::from_millis(1),
            Duration::from_millis(2),
        ))
        .shutdown_timeout(Duration::from_millis(100))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_journal_the_sinks_are_fed_from_the_log_under_their_own_checkpoint() {
    let _serial = SERIAL.lock().await;
    let journal = MemoryJournal::new();
    let outbox = Arc::new(Outbox::default());
    let bus = with_outbox(&journal, &outbox);
    bus.emit(InvoiceSent { invoice: 30 }).await.unwrap();
    let _ = bus.publish(InvoiceSent { invoice: 31 });
    bus.emit(InvoiceSent { invoice: 32 }).await.unwrap();
    bus.idle().await;
    bus.flush().await;
    let mut sent = outbox.sent.lock().unwrap().clone();
    sent.sort_unstable();
    assert_eq!(sent, [30, 31, 32]);
    assert_eq!(journal.checkpoint("sink:outbox").await.unwrap(), 3);
    bus.shutdown().await;

    // The sink is down when the next events come; shutdown leaves them in
    // the log instead of the dead letters.
    outbox
        .down
        .store(true, std::sync::atomic::Ordering::Release);
    let dead = eventbus::MemoryDeadLetters::new();
    let bus = Bus::builder()
        .journal(journal.clone())
        .sink("outbox", SharedOutbox(Arc::clone(&outbox)))
        .sink_retry(eventbus::SinkRetry::new(
            100,
            Duration::from_millis(5),
            Duration::from_millis(5),
        ))
        .shutdown_timeout(Duration::from_millis(100))
        .dead_letters(dead.clone())
        .build()
        .unwrap();
    bus.emit(InvoiceSent { invoice: 33 }).await.unwrap();
    bus.idle().await;
    tokio::time::timeout(Duration::from_secs(5), bus.shutdown())
        .await
        .expect("shutdown returns once its time for the sinks is up");
    assert_eq!(
        dead.len(),
        0,
        "with a journal, what is not sent stays pending"
    );
    assert_eq!(journal.checkpoint("sink:outbox").await.unwrap(), 3);

    // After a restart, the sink's relay goes on from its checkpoint: only
    // the pending event is sent, once.
    outbox
        .down
        .store(false, std::sync::atomic::Ordering::Release);
    let bus = with_outbox(&journal, &outbox);
    bus.flush().await;
    let mut sent = outbox.sent.lock().unwrap().clone();
    sent.sort_unstable();
    assert_eq!(sent, [30, 31, 32, 33]);
    assert_eq!(journal.checkpoint("sink:outbox").await.unwrap(), 4);
    bus.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logged_record_the_program_cannot_read_goes_to_the_dead_letters_and_the_relay_goes_on() {
    let _serial = SERIAL.lock().await;
    let journal = MemoryJournal::new();
    let unknown = Arc::new(EventRecord::new(
        "journal.invoice_snet",
        1,
        b"{}".to_vec(),
        Envelope::generate(),
    ));
    let good = Arc::new(
        EventRecord::from_event(&InvoiceSent { invoice: 40 }, Envelope::generate()).unwrap(),
    );
    let entries = [
        eventbus::JournalEntry::new("other", Arc::clone(&unknown), false),
        eventbus::JournalEntry::new("journal.invoice_sent", Arc::clone(&good), false),
    ];
    assert_eq!(journal.append(&entries).await.unwrap(), [1, 2]);

    let dead = eventbus::MemoryDeadLetters::new();
    let bus = Bus::builder()
        .journal(journal.clone())
        .dead_letters(dead.clone())
        .build()
        .unwrap();
    for _ in 0..200 {
        if !seen(40).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(seen(40), [(good.envelope.id, Origin::Remote)]);
    let letters = dead.letters();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].event_name, "(unknown event)");
    assert_eq!(letters[0].event_id, unknown.envelope.id);
    assert_eq!(
        letters[0].message,
        "the handler relay could not deliver the record at position 1 of the journal: no event \
         type is registered under the name `journal.invoice_snet`; did you mean \
         `journal.invoice_sent`?"
    );
    assert_eq!(letters[0].record.as_ref(), Some(&*unknown));
    bus.shutdown().await;
}
