//! `loom` models of the handshakes behind `emit`, the queue's workers,
//! `idle`, `shutdown`, unsubscribing, and a sink's `flush`. Each model runs every
//! interleaving of its threads that loom can tell apart.
//!
//! ```sh
//! RUSTFLAGS="--cfg eventbus_loom" CARGO_TARGET_DIR=target/loom \
//!     cargo test -p eventbus-core --release --test loom
//! ```
#![cfg(eventbus_loom)]

use std::collections::VecDeque;
use std::future::poll_fn;

use eventbus_core::__loom::{Batch, CallGate, Caller, Ledger, Taken};
use loom::sync::atomic::{AtomicBool, AtomicUsize};
use loom::sync::Arc;
use loom::thread;
use std::sync::atomic::Ordering::SeqCst;

/// Queued events: plain numbers.
#[derive(Default)]
struct Events(VecDeque<u32>);

impl Batch for Events {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn move_front(&mut self, into: &mut Self, max: usize) {
        for _ in 0..max.min(self.0.len()) {
            let event = self.0.pop_front().unwrap();
            into.0.push_back(event);
        }
    }

    fn put_back(&mut self, into: &mut Self) {
        while let Some(event) = self.0.pop_back() {
            into.0.push_front(event);
        }
    }
}

fn emit(ledger: &Ledger<Events>, event: u32) {
    let intake = ledger.intake();
    assert_eq!(intake.refusal(), None);
    intake.push(|events| events.0.push_back(event));
}

/// One worker, as the bus's: takes up to `takes` batches and delivers each
/// event by calling `deliver` (which may emit follow-ups). A delivered
/// batch is counted out by the next take when more events wait already,
/// by `batch_done` otherwise; while a producer holds the lock, it yields
/// and then waits for it. Returns whether it found the queue closed and
/// drained.
fn work(ledger: &Ledger<Events>, takes: usize, mut deliver: impl FnMut(u32)) -> bool {
    let mut batch = Events::default();
    let mut holding = false;
    let mut finished = false;
    // After a `Busy`, the next take waits for the lock, as the bus's
    // worker does after several.
    let mut busy = false;
    for _ in 0..takes {
        if holding && !ledger.may_have_events() {
            holding = false;
            ledger.batch_done();
        }
        let done = std::mem::take(&mut holding);
        let taken = ledger.take(&mut batch, done, busy);
        busy = taken == Taken::Busy;
        match taken {
            Taken::Batch { .. } => {
                while let Some(event) = batch.0.pop_front() {
                    deliver(event);
                }
                holding = true;
            }
            Taken::Busy => {
                holding = done;
                thread::yield_now();
            }
            Taken::Nothing => thread::yield_now(),
            Taken::Finished => {
                finished = true;
                break;
            }
        }
    }
    if holding {
        ledger.batch_done();
    }
    finished
}

#[test]
fn idle_is_never_seen_while_an_emitted_event_is_undelivered() {
    loom::model(|| {
        let ledger = Arc::new(Ledger::<Events>::new(4, 1));
        let delivered = Arc::new(AtomicUsize::new(0));
        let worker = {
            let (ledger, delivered) = (Arc::clone(&ledger), Arc::clone(&delivered));
            thread::spawn(move || {
                work(&ledger, 2, |_| {
                    delivered.fetch_add(1, SeqCst);
                })
            })
        };
        emit(&ledger, 1);
        // The take moves the event from queued to in flight under the
        // lock that `is_idle` reads both under.
        if ledger.is_idle(Caller::Outside) {
            assert_eq!(delivered.load(SeqCst), 1);
        }
        worker.join().unwrap();
    });
}

#[test]
fn idle_waits_for_an_event_emitted_by_a_handler_of_the_batch() {
    loom::model(|| {
        let ledger = Arc::new(Ledger::<Events>::new(4, 1));
        let delivered = Arc::new(AtomicUsize::new(0));
        emit(&ledger, 1);
        let worker = {
            let (ledger, delivered) = (Arc::clone(&ledger), Arc::clone(&delivered));
            thread::spawn(move || {
                let follow_up = Arc::clone(&ledger);
                work(&ledger, 3, |event| {
                    if event == 1 {
                        // The handler emits before its batch is done.
                        emit(&follow_up, 2);
                    }
                    delivered.fetch_add(1, SeqCst);
                })
            })
        };
        if ledger.is_idle(Caller::Outside) {
            assert_eq!(delivered.load(SeqCst), 2);
        }
        worker.join().unwrap();
    });
}

#[test]
fn a_worker_inside_its_batch_is_idle_for_itself_and_a_task_for_itself() {
    loom::model(|| {
        let ledger = Ledger::<Events>::new(4, 1);
        emit(&ledger, 1);
        let mut batch = Events::default();
        assert!(matches!(
            ledger.take(&mut batch, false, false),
            Taken::Batch { .. }
        ));
        // Behind the worker's own batch: another event. Its handler waits
        // on the bus, registered as work that waits.
        emit(&ledger, 2);
        ledger.start_waiting_inside();
        assert!(ledger.is_idle(Caller::Worker));
        assert!(!ledger.is_idle(Caller::Outside));
        ledger.task_started();
        assert!(!ledger.is_idle(Caller::Worker));
        assert!(ledger.task_done());
        ledger.stop_waiting_inside();
        ledger.batch_done();
        assert!(!ledger.is_idle(Caller::Outside));
    });
}

#[test]
fn handlers_waiting_on_their_bus_release_one_another() {
    /// A spawned handler: waits in `idle` for its own bus, then ends.
    fn handler(ledger: &Ledger<Events>) {
        ledger.start_waiting_inside();
        while !ledger.is_idle(Caller::Task) {
            thread::yield_now();
        }
        ledger.stop_waiting_inside();
        ledger.task_done();
    }

    loom::model(|| {
        let ledger = Arc::new(Ledger::<Events>::new(4, 1));
        ledger.task_started();
        ledger.task_started();
        let other = {
            let ledger = Arc::clone(&ledger);
            thread::spawn(move || handler(&ledger))
        };
        // Neither waits for a task that only waits: both end.
        handler(&ledger);
        other.join().unwrap();
        assert!(ledger.is_idle(Caller::Outside));
    });
}

#[test]
fn shutdown_delivers_an_emit_that_was_waiting_for_room() {
    loom::model(|| {
        let ledger = Arc::new(Ledger::<Events>::new(1, 1));
        emit(&ledger, 1);
        // The queue is full: this emit waits for room, admitted.
        ledger.intake().start_waiting();
        let delivered = Arc::new(AtomicUsize::new(0));
        let worker = {
            let (ledger, delivered) = (Arc::clone(&ledger), Arc::clone(&delivered));
            thread::spawn(move || {
                work(&ledger, 4, |_| {
                    delivered.fetch_add(1, SeqCst);
                })
            })
        };
        let emitter = {
            let ledger = Arc::clone(&ledger);
            thread::spawn(move || loop {
                let mut intake = ledger.intake();
                if !intake.is_full() {
                    intake.stop_waiting();
                    intake.push(|events| events.0.push_back(2));
                    return;
                }
                drop(intake);
                thread::yield_now();
            })
        };
        ledger.close();
        assert_eq!(
            ledger.intake().refusal(),
            Some(eventbus_core::__loom::Refused::Closed)
        );
        emitter.join().unwrap();
        let finished = worker.join().unwrap();
        // The worker ends only after both were delivered; whatever it did
        // not get to in its few turns is still queued, never lost.
        if finished {
            assert_eq!(delivered.load(SeqCst), 2);
        }
        let left = ledger.take_all().len();
        assert_eq!(delivered.load(SeqCst) + left, 2);
    });
}

#[test]
fn a_stopped_worker_puts_its_batch_back_or_hands_it_over_when_closed() {
    loom::model(|| {
        let ledger = Arc::new(Ledger::<Events>::new(4, 1));
        emit(&ledger, 1);
        emit(&ledger, 2);
        ledger.intake().worker_started();
        let mut batch = Events::default();
        assert!(matches!(
            ledger.take(&mut batch, false, false),
            Taken::Batch { .. }
        ));
        let closer = {
            let ledger = Arc::clone(&ledger);
            thread::spawn(move || ledger.close())
        };
        // The runtime drops the worker in the middle of its batch.
        let left = ledger.worker_stopped(&mut batch, true, false);
        closer.join().unwrap();
        match left {
            // Closed first: nobody will deliver them; they are reported.
            Some(events) => assert_eq!(events.0, [1, 2]),
            // Not closed yet: back in the queue, in order, for a new worker.
            None => assert_eq!(ledger.take_all().0, [1, 2]),
        }
        assert!(ledger.is_idle(Caller::Outside));
    });
}

#[test]
fn a_sleeping_worker_is_woken_or_sees_the_event() {
    loom::model(|| {
        let ledger = Arc::new(Ledger::<Events>::new(4, 1));
        let woken = Arc::new(AtomicBool::new(false));
        let producer = {
            let (ledger, woken) = (Arc::clone(&ledger), Arc::clone(&woken));
            thread::spawn(move || {
                let intake = ledger.intake();
                if intake.push(|events| events.0.push_back(1)) {
                    woken.store(true, SeqCst);
                }
            })
        };
        let mut batch = Events::default();
        if ledger.take(&mut batch, false, false) == Taken::Nothing {
            // The worker's waker is registered before this.
            let sleeps = ledger.go_to_sleep();
            producer.join().unwrap();
            // Asleep with an event queued and nobody to wake it: lost.
            assert!(!sleeps || woken.load(SeqCst));
            ledger.wake_up();
        } else {
            producer.join().unwrap();
        }
    });
}

/// Closes a gate while a call on another thread may be entering it, waits
/// with `wait` for the calls in flight, then checks that none runs and
/// none can start.
fn close_and_wait(wait: impl Fn(&CallGate) + Send + Sync + 'static) {
    loom::model(move || {
        let gate = Arc::new(CallGate::new());
        let running = Arc::new(AtomicBool::new(false));
        let caller = {
            let (gate, running) = (Arc::clone(&gate), Arc::clone(&running));
            thread::spawn(move || {
                if gate.enter() {
                    running.store(true, SeqCst);
                    running.store(false, SeqCst);
                    gate.leave();
                }
            })
        };
        gate.close();
        wait(&gate);
        assert!(!running.load(SeqCst));
        assert!(!gate.enter());
        caller.join().unwrap();
    });
}

#[test]
fn no_call_runs_or_starts_once_unsubscribing_has_waited() {
    close_and_wait(|gate| gate.wait_idle(0));
}

#[test]
fn unsubscribe_await_waits_for_the_call_in_flight() {
    close_and_wait(|gate| {
        loom::future::block_on(poll_fn(|cx| gate.poll_idle(0, cx.waker())));
    });
}

#[test]
fn a_call_may_wait_for_its_own_gate_without_waiting_for_itself() {
    loom::model(|| {
        let gate = CallGate::new();
        assert!(gate.enter());
        gate.close();
        // One call in flight is the caller's own.
        gate.wait_idle(1);
        gate.leave();
        gate.wait_idle(0);
    });
}

/// A sink's counts as `flush` and `shutdown` wait on them: a `Tally` and
/// the `Signal` under it.
mod sinks {
    use super::*;
    use eventbus_core::__loom::{Counts, Signal, Tally};
    use loom::future::block_on;

    fn counts(sent: u64, failed: u64, waiting: u64) -> Counts {
        Counts {
            sent,
            failed,
            waiting,
        }
    }

    #[test]
    fn flush_waits_for_every_record_accepted_before_it() {
        loom::model(|| {
            let tally = Arc::new(Tally::new());
            tally.accept();
            tally.accept();
            let worker = {
                let tally = Arc::clone(&tally);
                // One batch: one record sent, one given up on, then the
                // wake-up.
                thread::spawn(move || {
                    tally.sent();
                    tally.failed();
                    tally.wake();
                })
            };
            block_on(tally.settle());
            assert_eq!(tally.counts(), counts(1, 1, 0));
            worker.join().unwrap();
        });
    }

    #[test]
    fn flush_is_woken_by_a_record_refused_while_it_waits() {
        loom::model(|| {
            let tally = Arc::new(Tally::new());
            let publisher = {
                let tally = Arc::clone(&tally);
                // `publish` with the sink's buffer full: nothing will come
                // from the worker for this record.
                thread::spawn(move || {
                    tally.accept();
                    tally.refused();
                })
            };
            // Returns whether it counted the record or not; never waits
            // for a wake-up that does not come (loom reports a deadlock).
            block_on(tally.settle());
            publisher.join().unwrap();
            assert_eq!(tally.counts(), counts(0, 1, 0));
        });
    }

    #[test]
    fn a_worker_that_ends_releases_flush_and_shutdown_and_leaves_its_records_counted() {
        loom::model(|| {
            let tally = Arc::new(Tally::new());
            tally.accept();
            tally.accept();
            let worker = {
                let tally = Arc::clone(&tally);
                // Sends one, then ends with its runtime.
                thread::spawn(move || {
                    tally.sent();
                    tally.wake();
                    tally.end();
                })
            };
            block_on(tally.settle());
            block_on(tally.ended());
            worker.join().unwrap();
            assert!(tally.has_ended());
            assert_eq!(tally.counts(), counts(1, 0, 1));
        });
    }

    #[test]
    fn a_waiter_sees_every_position_a_relay_reaches() {
        loom::model(|| {
            let signal = Arc::new(Signal::new());
            let position = Arc::new(AtomicUsize::new(0));
            let relay = {
                let (signal, position) = (Arc::clone(&signal), Arc::clone(&position));
                // Two batches, each followed by its wake-up.
                thread::spawn(move || {
                    for reached in 1..=2 {
                        position.store(reached, SeqCst);
                        signal.wake();
                    }
                })
            };
            block_on(signal.until(|| position.load(SeqCst) >= 2));
            assert_eq!(position.load(SeqCst), 2);
            relay.join().unwrap();
        });
    }

    #[test]
    fn a_stop_ends_a_wait_for_a_position_never_reached() {
        loom::model(|| {
            let signal = Arc::new(Signal::new());
            let stopping = Arc::new(AtomicBool::new(false));
            let stopper = {
                let (signal, stopping) = (Arc::clone(&signal), Arc::clone(&stopping));
                thread::spawn(move || {
                    stopping.store(true, SeqCst);
                    signal.wake();
                })
            };
            block_on(signal.until(|| stopping.load(SeqCst)));
            stopper.join().unwrap();
        });
    }
}
