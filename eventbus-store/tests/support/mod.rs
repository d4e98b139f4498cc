//! What the store's test files share: a database per test on either
//! backend, and the macro that runs a test on both.
#![allow(dead_code)]

use eventbus_core::{Envelope, EventRecord};

use eventbus_store::{Store, StoredEvent};
use uuid::Uuid;

pub const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A database for one test, removed when dropped.
pub enum TestDb {
    Sqlite { path: std::path::PathBuf },
    Postgres { url: String, schema: String },
}

impl TestDb {
    pub fn sqlite() -> Self {
        let path =
            std::env::temp_dir().join(format!("eventbus-store-{}.db", Uuid::new_v4().simple()));
        Self::Sqlite { path }
    }

    /// A schema of its own on the test server; `None` (the test is
    /// skipped) when the server is missing and this is not CI.
    pub async fn postgres() -> Option<Self> {
        let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_POSTGRES.to_owned());
        let schema = format!("eventbus_test_{}", Uuid::new_v4().simple());
        let created = async {
            use sqlx::Connection;
            let mut connection = sqlx::PgConnection::connect(&url).await?;
            sqlx::raw_sql(&format!("CREATE SCHEMA {schema}"))
                .execute(&mut connection)
                .await?;
            connection.close().await
        };
        match created.await {
            Ok(()) => Some(Self::Postgres { url, schema }),
            Err(error) if std::env::var("CI").as_deref() == Ok("true") => panic!(
                "PostgreSQL is needed at {url} ({error}); start it with \
                 `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` \
                 or set DATABASE_URL"
            ),
            Err(error) => {
                eprintln!("skipped: PostgreSQL is not reachable at {url}: {error}");
                None
            }
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Self::Postgres { .. })
    }

    pub fn url(&self) -> String {
        match self {
            Self::Sqlite { path } => format!("sqlite://{}", path.display()),
            Self::Postgres { url, schema } => {
                let joint = if url.contains('?') { '&' } else { '?' };
                format!("{url}{joint}options[search_path]={schema}")
            }
        }
    }

    pub async fn open(&self) -> Store {
        Store::open(&self.url())
            .await
            .expect("the test database opens")
    }

    /// Runs `sql` on the test database directly, as another program would.
    pub async fn execute(&self, sql: &str) {
        use sqlx::Connection;
        match self {
            Self::Sqlite { .. } => {
                let mut connection = sqlx::SqliteConnection::connect(&self.url()).await.unwrap();
                sqlx::raw_sql(sql).execute(&mut connection).await.unwrap();
            }
            Self::Postgres { .. } => {
                let mut connection = sqlx::PgConnection::connect(&self.url()).await.unwrap();
                sqlx::raw_sql(sql).execute(&mut connection).await.unwrap();
            }
        }
    }
}

impl TestDb {
    /// The rows of `sql`, a text and an integer column each, as another
    /// program reads them.
    pub async fn text_and_int(&self, sql: &str) -> Vec<(String, i64)> {
        use sqlx::Connection;
        match self {
            Self::Sqlite { .. } => {
                let mut connection = sqlx::SqliteConnection::connect(&self.url()).await.unwrap();
                sqlx::query_as(sql)
                    .fetch_all(&mut connection)
                    .await
                    .unwrap()
            }
            Self::Postgres { .. } => {
                let mut connection = sqlx::PgConnection::connect(&self.url()).await.unwrap();
                sqlx::query_as(sql)
                    .fetch_all(&mut connection)
                    .await
                    .unwrap()
            }
        }
    }
}

/// An append by another program, holding the log's write lock until
/// committed.
pub enum HeldAppend {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

/// The row the held append writes: plain literals both databases take.
pub const LATE_ROW: &str = "INSERT INTO eventbus_events (stream, stream_version, event_id, name, \
    version, payload, correlation_id, causation_id, origin, source, handled, recorded_at) VALUES \
    ('late', 1, '0190a000-0000-7000-8000-0000000000aa', 'late.commit', 1, '{}', \
    '0190a000-0000-7000-8000-0000000000aa', NULL, 'local', NULL, false, \
    '2026-12-06T10:00:00.000000Z')";

impl HeldAppend {
    pub async fn commit(self) {
        let commit = sqlx::raw_sql("COMMIT");
        match self {
            Self::Sqlite(mut connection) => drop(commit.execute(&mut connection).await.unwrap()),
            Self::Postgres(mut connection) => drop(commit.execute(&mut connection).await.unwrap()),
        }
    }
}

impl TestDb {
    /// Starts an append as another program would, taking the write lock
    /// the store's appends take, and leaves it open.
    pub async fn hold_append(&self) -> HeldAppend {
        use sqlx::Connection;
        let lock = match self {
            Self::Sqlite { .. } => "BEGIN IMMEDIATE",
            Self::Postgres { .. } => {
                "BEGIN; SELECT pg_advisory_xact_lock(1702257153, hashtext(current_schema()))"
            }
        };
        let held = format!("{lock}; {LATE_ROW}");
        match self {
            Self::Sqlite { .. } => {
                let mut connection = sqlx::SqliteConnection::connect(&self.url()).await.unwrap();
                sqlx::raw_sql(&held).execute(&mut connection).await.unwrap();
                HeldAppend::Sqlite(connection)
            }
            Self::Postgres { .. } => {
                let mut connection = sqlx::PgConnection::connect(&self.url()).await.unwrap();
                sqlx::raw_sql(&held).execute(&mut connection).await.unwrap();
                HeldAppend::Postgres(connection)
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match self {
            Self::Sqlite { path } => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    let _ = std::fs::remove_file(file);
                }
            }
            Self::Postgres { url, schema } => {
                let (url, name) = (url.clone(), schema.clone());
                // Its own thread and runtime: the test's may be gone.
                let dropped = std::thread::spawn(move || {
                    let schema = name;
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    runtime.block_on(async {
                        use sqlx::Connection;
                        let mut connection = sqlx::PgConnection::connect(&url).await?;
                        sqlx::raw_sql(&format!("DROP SCHEMA {schema} CASCADE"))
                            .execute(&mut connection)
                            .await?;
                        connection.close().await
                    })
                });
                if let Ok(Err(error)) = dropped.join() {
                    eprintln!("could not drop the test schema {schema}: {error}");
                }
            }
        }
    }
}

/// Each test, once per backend: `$name::sqlite` and `$name::postgres`.
#[macro_export]
macro_rules! conformance {
    ($(async fn $name:ident($db:ident: &TestDb) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($db: &TestDb) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run(&TestDb::sqlite()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(db) = TestDb::postgres().await {
                    run(&db).await;
                }
            }
        }
    )*};
}

/// A record of `name` with payload `payload`, a fresh envelope.
pub fn record(name: &str, payload: &str) -> EventRecord {
    EventRecord::new(
        name.to_owned(),
        1,
        payload.as_bytes().to_vec(),
        Envelope::generate(),
    )
}

pub fn versions(events: &[StoredEvent]) -> Vec<u64> {
    events.iter().map(|event| event.stream_version).collect()
}

pub fn positions(events: &[StoredEvent]) -> Vec<u64> {
    events.iter().map(|event| event.position).collect()
}

pub fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).expect("stored payloads are JSON")
}
