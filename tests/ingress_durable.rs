//! The event stream over the event log: `Last-Event-ID` resumes from the
//! log with nothing skipped and nothing twice, then goes on live; on
//! SQLite and PostgreSQL.

#[path = "../eventbus-store/tests/support/mod.rs"]
mod support;

#[path = "common/serve.rs"]
mod serve;
#[path = "common/sse.rs"]
mod sse;

use eventbus::http::{EventStream, Ingress};
use eventbus::prelude::*;
use serde::{Deserialize, Serialize};
use support::TestDb;

#[derive(Event, Debug, Clone, Serialize, Deserialize)]
#[event(name = "stream.parcel_sent")]
struct ParcelSent {
    parcel: u32,
}

fn parcel(received: &sse::Received) -> u64 {
    let body: serde_json::Value = serde_json::from_str(&received.data).unwrap();
    body["payload"]["parcel"].as_u64().unwrap()
}

conformance! {
    async fn last_event_id_resumes_from_the_log_then_goes_live(db: &TestDb) {
        let store = db.open().await;
        let events = EventStream::journal(store.clone());
        let bus = Bus::builder()
            .journal(store.clone())
            .sink("sse", events.clone())
            .build()
            .unwrap();
        let base = serve::serve(Ingress::new(bus.clone()).stream(events).router()).await;
        let url = format!("{base}/events/stream");

        let mut first = sse::SseClient::connect(&url, None).await;
        for parcel in 1..=3 {
            bus.emit(ParcelSent { parcel }).await.unwrap();
        }
        let seen: Vec<sse::Received> = vec![
            first.next().await.unwrap(),
            first.next().await.unwrap(),
            first.next().await.unwrap(),
        ];
        assert_eq!(seen.iter().map(parcel).collect::<Vec<_>>(), [1, 2, 3]);
        let positions: Vec<u64> = seen.iter().map(|event| event.id.parse().unwrap()).collect();
        assert_eq!(positions[1], positions[0] + 1);
        assert_eq!(positions[2], positions[1] + 1);

        // Reconnect after the first: the second and third come from the
        // log, then a fourth live, each once.
        let mut again = sse::SseClient::connect(&url, Some(&positions[0].to_string())).await;
        let resumed = [again.next().await.unwrap(), again.next().await.unwrap()];
        assert_eq!(resumed.iter().map(parcel).collect::<Vec<_>>(), [2, 3]);
        assert_eq!(
            resumed.iter().map(|event| event.id.clone()).collect::<Vec<_>>(),
            [positions[1].to_string(), positions[2].to_string()]
        );
        bus.emit(ParcelSent { parcel: 4 }).await.unwrap();
        let live = again.next().await.unwrap();
        assert_eq!((parcel(&live), live.id.clone()), (4, (positions[2] + 1).to_string()));
        assert_eq!(parcel(&first.next().await.unwrap()), 4);

        bus.shutdown().await;
        assert!(again.ends().await);
        assert!(first.ends().await);
    }
}
