//! The broker stopped and started in the middle of 10,000 events: the
//! publisher and the consumer reconnect, and every event is handled once.
//! A binary of its own: no other test sees the broker go away. It leaves
//! the broker running.

#[path = "common/rabbit.rs"]
mod rabbit;

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eventbus::prelude::*;
use rabbit::{until, Broker};

#[derive(Event, Debug, Clone, serde::Serialize, serde::Deserialize)]
#[event(name = "restart.tick")]
struct Tick {
    n: u32,
}

#[derive(Default)]
struct Seen(Mutex<Vec<u32>>);

#[subscribe(group = "ticks")]
fn count_tick(tick: &Tick, seen: State<Arc<Seen>>) {
    seen.0.lock().unwrap().push(tick.n);
}

fn rabbitmqctl(command: &str) {
    let status = Command::new("rabbitmqctl")
        .arg(command)
        .status()
        .unwrap_or_else(|error| panic!("rabbitmqctl {command}: {error}; is RabbitMQ installed?"));
    assert!(status.success(), "rabbitmqctl {command} failed: {status}");
}

/// Starts the broker's application again when the test ends, whatever
/// happened.
struct StartAgain;

impl Drop for StartAgain {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl").arg("start_app").status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_events_survive_a_broker_restart() {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let Some(broker) = Broker::find().await else {
        return;
    };
    if Command::new("rabbitmqctl").arg("status").output().is_err() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "rabbitmqctl is needed to stop and start the broker"
        );
        eprintln!("skipped: rabbitmqctl is not here to stop and start the broker");
        return;
    }
    let rabbit = broker.rabbit();
    let seen = Arc::new(Seen::default());
    let worker = Bus::builder()
        .state(Arc::clone(&seen))
        .remote_groups(["ticks"])
        .build()
        .unwrap();
    let consumer = rabbit
        .consume(&worker)
        .group("ticks")
        .start()
        .await
        .unwrap();
    let publishing = Bus::builder()
        .state(Arc::clone(&seen))
        .remote_groups(["ticks"])
        .sink("rabbitmq", rabbit.sink().unwrap())
        .shutdown_timeout(Duration::from_secs(60))
        .build()
        .unwrap();

    let emitting = {
        let publishing = publishing.clone();
        tokio::spawn(async move {
            for n in 0..10_000 {
                publishing.emit(Tick { n }).await.unwrap();
                if n % 20 == 0 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        })
    };
    until(Duration::from_secs(60), "the first 2,000 handled", || {
        seen.0.lock().unwrap().len() >= 2000
    })
    .await;
    // Stopped while events are still being published.
    let sent_before = publishing.sinks()[0].sent;
    assert!(
        sent_before < 10_000,
        "{sent_before} sent before the broker stopped"
    );
    let start_again = StartAgain;
    tokio::task::spawn_blocking(|| rabbitmqctl("stop_app"))
        .await
        .unwrap();
    let during = seen.0.lock().unwrap().len();
    tokio::time::sleep(Duration::from_secs(2)).await;
    tokio::task::spawn_blocking(|| rabbitmqctl("start_app"))
        .await
        .unwrap();
    drop(start_again);
    assert!(
        during < 10_000,
        "the broker stopped mid-stream ({during} handled)"
    );

    emitting.await.unwrap();
    publishing.flush().await;
    until(Duration::from_secs(120), "all 10,000 handled", || {
        seen.0.lock().unwrap().len() >= 10_000
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let handled = seen.0.lock().unwrap().clone();
    let distinct: BTreeSet<u32> = handled.iter().copied().collect();
    assert_eq!(distinct.len(), 10_000, "none lost");
    assert_eq!(handled.len(), 10_000, "none handled twice");
    assert_eq!(publishing.sinks()[0].sent, 10_000);
    assert_eq!(publishing.sinks()[0].failed, 0);
    assert!(consumer.stats().reconnects >= 1);
    consumer.shutdown().await;
    publishing.shutdown().await;
    worker.shutdown().await;
    broker.clean().await;
}
