//! The queries, written once and instantiated for each backend by
//! [`backend!`]: the two differ only in the [`Dialect`] fragments (casts,
//! the column list, the lock), and sqlx's query builder writes each one's
//! placeholders.

use std::collections::HashMap;

use sqlx::Row;

use crate::row::{Columns, NewRow, ReadRow};

/// What differs in the SQL of the two backends.
pub(crate) struct Dialect {
    /// How a transaction that appends begins: it takes the log's one
    /// write lock first, so positions commit in order. One round trip.
    pub(crate) begin_append: &'static str,
    /// How the transaction that applies the schema begins, under a lock
    /// of its own.
    pub(crate) begin_schema: &'static str,
    /// The casts that turn a bound text into the column's type.
    pub(crate) uuid: &'static str,
    pub(crate) json: &'static str,
    pub(crate) time: &'static str,
    /// `event_id` as text.
    pub(crate) event_id: &'static str,
    /// A snapshot's `state` as text.
    pub(crate) state: &'static str,
    /// The larger of two values.
    pub(crate) greatest: &'static str,
    /// Every column of `eventbus_events`, in [`ReadRow`]'s order, as text
    /// where the backend has a type of its own.
    pub(crate) columns: &'static str,
}

/// How many rows one statement carries: far below both backends' limit
/// on bound values (32,766 for SQLite, 65,535 for PostgreSQL).
pub(crate) const CHUNK: usize = 500;

pub(crate) const SQLITE: Dialect = Dialect {
    begin_append: "BEGIN IMMEDIATE",
    begin_schema: "BEGIN IMMEDIATE",
    uuid: "",
    json: "",
    time: "",
    event_id: "event_id",
    state: "state",
    greatest: "MAX",
    columns: "position, stream, stream_version, event_id, name, version, payload, \
              correlation_id, causation_id, origin, source, handled, recorded_at",
};

/// The advisory lock keys: a constant for eventbus and the hash of the
/// current schema, so stores in two schemas of one database do not
/// serialize each other. `BEGIN` and the lock go as one simple query: one
/// round trip, and the statements after it see every append that held the
/// lock before. (The `NOTIFY` that wakes tails is sent by a trigger on
/// `eventbus_events`, for writers in any language.)
pub(crate) const POSTGRES: Dialect = Dialect {
    begin_append: "BEGIN; SELECT pg_advisory_xact_lock(1702257153, hashtext(current_schema()))",
    begin_schema: "BEGIN; SELECT pg_advisory_xact_lock(1702257152, hashtext(current_schema()))",
    uuid: "::uuid",
    json: "::jsonb",
    time: "::timestamptz",
    event_id: "event_id::text",
    state: "state::text",
    greatest: "GREATEST",
    columns: "position, stream, stream_version, event_id::text, name, version::bigint, \
              payload::text, correlation_id::text, causation_id::text, origin, source, handled, \
              to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')",
};

/// An aggregate's state as of a version of its stream, as JSON.
pub(crate) struct Snapshot<'a> {
    pub(crate) stream: &'a str,
    pub(crate) version: u64,
    pub(crate) state: String,
}

/// Which rows a read wants.
pub(crate) enum Read<'a> {
    /// Of one stream, from a version on.
    Stream { stream: &'a str, from_version: i64 },
    /// Of the whole log, after a position, at most `limit`.
    All { after: i64, limit: i64 },
    /// The event with this id.
    Event { id: &'a str },
}

fn read_row<R: Row>(row: &R) -> Result<ReadRow, sqlx::Error>
where
    usize: sqlx::ColumnIndex<R>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(ReadRow {
        position: row.try_get(0)?,
        stream_version: row.try_get(2)?,
        columns: Columns {
            stream: row.try_get(1)?,
            event_id: row.try_get(3)?,
            name: row.try_get(4)?,
            version: row.try_get(5)?,
            payload: row.try_get(6)?,
            correlation_id: row.try_get(7)?,
            causation_id: row.try_get(8)?,
            origin: row.try_get(9)?,
            source: row.try_get(10)?,
            handled: row.try_get(11)?,
            recorded_at: row.try_get(12)?,
        },
    })
}

/// The positions of `rows` in their order, once every one is stored.
fn positions(rows: &[NewRow<'_>], stored: &HashMap<String, i64>) -> Vec<u64> {
    rows.iter()
        .map(|row| {
            let position = stored.get(&row.event_id).copied().unwrap_or_default();
            u64::try_from(position).unwrap_or_default()
        })
        .collect()
}

/// The rows not stored yet, each event id once.
fn fresh<'r, 'a>(rows: &'r [NewRow<'a>], stored: &HashMap<String, i64>) -> Vec<&'r NewRow<'a>> {
    let mut seen = std::collections::HashSet::new();
    rows.iter()
        .filter(|row| !stored.contains_key(&row.event_id) && seen.insert(row.event_id.as_str()))
        .collect()
}

fn version_of(version: i64) -> u64 {
    u64::try_from(version).unwrap_or_default()
}

macro_rules! backend {
    ($module:ident, $db:ty, $dialect:expr) => {
        pub(crate) mod $module {
            use std::collections::HashMap;

            use sqlx::{Connection, Pool, QueryBuilder, Transaction};

            use super::{fresh, positions, read_row, version_of, Dialect, Read, Snapshot, CHUNK};
            use crate::error::StoreError;
            use crate::expected::ExpectedVersion;
            use crate::row::{NewRow, ReadRow};

            type Db = $db;
            const DIALECT: Dialect = $dialect;

            fn failed(action: &str) -> impl FnOnce(sqlx::Error) -> StoreError {
                StoreError::database(action.to_owned())
            }

            /// Appends `rows` in one transaction; with `check`, only if the
            /// stream is at the expected version. Rows whose event id is
            /// stored already are not written again: their stored positions
            /// are returned, and when every row is stored the check is
            /// skipped (a retry of an append that committed).
            pub(crate) async fn append(
                connection: &mut <Db as sqlx::Database>::Connection,
                rows: &[NewRow<'_>],
                check: Option<(&str, ExpectedVersion)>,
                snapshot: Option<&Snapshot<'_>>,
                action: &str,
            ) -> Result<Vec<u64>, StoreError> {
                let mut tx = connection
                    .begin_with(DIALECT.begin_append)
                    .await
                    .map_err(failed(action))?;
                let mut stored = existing(&mut tx, rows).await.map_err(failed(action))?;
                let fresh = fresh(rows, &stored);
                if fresh.is_empty() {
                    // Nothing to write: the transaction rolls back as it drops.
                    return Ok(positions(rows, &stored));
                }
                let mut versions = stream_versions(&mut tx, &fresh)
                    .await
                    .map_err(failed(action))?;
                if let Some((stream, expected)) = check {
                    let actual = version_of(versions.get(stream).copied().unwrap_or_default());
                    if !expected.allows(actual) {
                        return Err(StoreError::WrongExpectedVersion {
                            stream: stream.to_owned(),
                            expected,
                            actual,
                        });
                    }
                }
                for chunk in fresh.chunks(CHUNK) {
                    let inserted = insert(&mut tx, chunk, &mut versions)
                        .await
                        .map_err(failed(action))?;
                    stored.extend(inserted);
                }
                finish(tx, rows, &stored, snapshot)
                    .await
                    .map_err(failed(action))
            }

            /// Writes `snapshot`, if any, commits, and returns the
            /// positions of `rows`.
            async fn finish(
                mut tx: Transaction<'_, Db>,
                rows: &[NewRow<'_>],
                stored: &HashMap<String, i64>,
                snapshot: Option<&Snapshot<'_>>,
            ) -> Result<Vec<u64>, sqlx::Error> {
                if let Some(snapshot) = snapshot {
                    save_snapshot(&mut tx, snapshot).await?;
                }
                tx.commit().await?;
                Ok(positions(rows, stored))
            }

            /// The positions of the rows whose event id is stored already.
            async fn existing(
                tx: &mut Transaction<'_, Db>,
                rows: &[NewRow<'_>],
            ) -> Result<HashMap<String, i64>, sqlx::Error> {
                let mut stored = HashMap::new();
                for chunk in rows.chunks(CHUNK) {
                    let mut query = QueryBuilder::<Db>::new("SELECT ");
                    query.push(DIALECT.event_id);
                    query.push(", position FROM eventbus_events WHERE event_id IN (");
                    let mut ids = query.separated(", ");
                    for row in chunk {
                        ids.push_bind(row.event_id.as_str());
                        ids.push_unseparated(DIALECT.uuid);
                    }
                    query.push(")");
                    let found: Vec<(String, i64)> =
                        query.build_query_as().fetch_all(&mut **tx).await?;
                    stored.extend(found);
                }
                Ok(stored)
            }

            /// The version of each stream of `rows`: 0 for one with no
            /// events yet.
            async fn stream_versions<'r>(
                tx: &mut Transaction<'_, Db>,
                rows: &[&NewRow<'r>],
            ) -> Result<HashMap<&'r str, i64>, sqlx::Error> {
                let mut versions: HashMap<&'r str, i64> =
                    rows.iter().map(|row| (row.stream, 0)).collect();
                let streams: Vec<&'r str> = versions.keys().copied().collect();
                for chunk in streams.chunks(CHUNK) {
                    // Each stream's last row by the (stream, stream_version)
                    // index: `MAX(..) GROUP BY` reads every row of them on
                    // SQLite.
                    let mut query = QueryBuilder::<Db>::new("WITH asked (stream) AS (");
                    query.push_values(chunk, |mut values, stream| {
                        values.push_bind(*stream);
                    });
                    query.push(
                        ") SELECT asked.stream, COALESCE((SELECT stream_version FROM \
                         eventbus_events WHERE eventbus_events.stream = asked.stream ORDER BY \
                         stream_version DESC LIMIT 1), 0) FROM asked",
                    );
                    let found: Vec<(String, i64)> =
                        query.build_query_as().fetch_all(&mut **tx).await?;
                    for (stream, version) in found {
                        if let Some(known) = versions.get_mut(stream.as_str()) {
                            *known = version;
                        }
                    }
                }
                Ok(versions)
            }

            /// The position the reader named `name` has saved.
            pub(crate) async fn checkpoint(
                pool: &Pool<Db>,
                name: &str,
                action: &str,
            ) -> Result<Option<i64>, StoreError> {
                let mut query = QueryBuilder::<Db>::new(
                    "SELECT position FROM eventbus_checkpoints WHERE name = ",
                );
                query.push_bind(name);
                query
                    .build_query_scalar()
                    .fetch_optional(pool)
                    .await
                    .map_err(failed(action))
            }

            /// Saves `position` as the one the reader named `name` has
            /// reached; with `forward`, only if it is later than the one
            /// saved (a relay's checkpoint never moves back).
            pub(crate) async fn save_checkpoint<'e>(
                executor: impl sqlx::Executor<'e, Database = Db>,
                name: &str,
                position: i64,
                forward: bool,
                action: &str,
            ) -> Result<(), StoreError> {
                let mut query = QueryBuilder::<Db>::new(
                    "INSERT INTO eventbus_checkpoints (name, position) VALUES (",
                );
                query.push_bind(name);
                query.push(", ");
                query.push_bind(position);
                query.push(") ON CONFLICT (name) DO UPDATE SET position = ");
                if forward {
                    query.push(DIALECT.greatest);
                    query.push("(eventbus_checkpoints.position, excluded.position)");
                } else {
                    query.push("excluded.position");
                }
                query
                    .build()
                    .execute(executor)
                    .await
                    .map(drop)
                    .map_err(failed(action))
            }

            /// Inserts `rows`, each at the next version of its stream;
            /// returns the position of each event id.
            async fn insert<'r>(
                tx: &mut Transaction<'_, Db>,
                rows: &[&NewRow<'r>],
                versions: &mut HashMap<&'r str, i64>,
            ) -> Result<Vec<(String, i64)>, sqlx::Error> {
                let mut query = QueryBuilder::<Db>::new(
                    "INSERT INTO eventbus_events (stream, stream_version, event_id, name, \
                     version, payload, correlation_id, causation_id, origin, source, handled, \
                     recorded_at) ",
                );
                query.push_values(rows, |mut values, row| {
                    let version = versions.entry(row.stream).or_default();
                    *version += 1;
                    values.push_bind(row.stream);
                    values.push_bind(*version);
                    values.push_bind(row.event_id.as_str());
                    values.push_unseparated(DIALECT.uuid);
                    values.push_bind(row.name);
                    values.push_bind(row.version);
                    values.push_bind(row.payload);
                    values.push_unseparated(DIALECT.json);
                    values.push_bind(row.correlation_id.as_str());
                    values.push_unseparated(DIALECT.uuid);
                    values.push_bind(row.causation_id.as_deref());
                    values.push_unseparated(DIALECT.uuid);
                    values.push_bind(row.origin);
                    values.push_bind(row.source);
                    values.push_bind(row.handled);
                    values.push_bind(row.recorded_at.as_str());
                    values.push_unseparated(DIALECT.time);
                });
                query.push(" RETURNING ");
                query.push(DIALECT.event_id);
                query.push(", position");
                query.build_query_as().fetch_all(&mut **tx).await
            }

            /// Writes `snapshot` over the stream's last one.
            async fn save_snapshot(
                tx: &mut Transaction<'_, Db>,
                snapshot: &Snapshot<'_>,
            ) -> Result<(), sqlx::Error> {
                let mut query = QueryBuilder::<Db>::new(
                    "INSERT INTO eventbus_snapshots (stream, stream_version, state) VALUES (",
                );
                query.push_bind(snapshot.stream);
                query.push(", ");
                query.push_bind(i64::try_from(snapshot.version).unwrap_or(i64::MAX));
                query.push(", ");
                query.push_bind(snapshot.state.as_str());
                query.push(DIALECT.json);
                query.push(
                    ") ON CONFLICT (stream) DO UPDATE SET \
                     stream_version = excluded.stream_version, state = excluded.state",
                );
                query.build().execute(&mut **tx).await.map(drop)
            }

            /// The last snapshot of `stream`: its version and state.
            pub(crate) async fn read_snapshot(
                pool: &Pool<Db>,
                stream: &str,
                action: &str,
            ) -> Result<Option<(i64, String)>, StoreError> {
                let mut query = QueryBuilder::<Db>::new("SELECT stream_version, ");
                query.push(DIALECT.state);
                query.push(" FROM eventbus_snapshots WHERE stream = ");
                query.push_bind(stream);
                query
                    .build_query_as()
                    .fetch_optional(pool)
                    .await
                    .map_err(failed(action))
            }

            /// The rows `read` asks for, in order.
            pub(crate) async fn read(
                pool: &Pool<Db>,
                read: Read<'_>,
                action: &str,
            ) -> Result<Vec<ReadRow>, StoreError> {
                let mut query = QueryBuilder::<Db>::new("SELECT ");
                query.push(DIALECT.columns);
                query.push(" FROM eventbus_events WHERE ");
                match read {
                    Read::Stream {
                        stream,
                        from_version,
                    } => {
                        query.push("stream = ");
                        query.push_bind(stream);
                        query.push(" AND stream_version >= ");
                        query.push_bind(from_version);
                        query.push(" ORDER BY stream_version");
                    }
                    Read::Event { id } => {
                        query.push("event_id = ");
                        query.push_bind(id);
                        query.push(DIALECT.uuid);
                    }
                    Read::All { after, limit } => {
                        query.push("position > ");
                        query.push_bind(after);
                        query.push(" ORDER BY position LIMIT ");
                        query.push_bind(limit);
                    }
                }
                let rows = query
                    .build()
                    .fetch_all(pool)
                    .await
                    .map_err(failed(action))?;
                rows.iter()
                    .map(read_row)
                    .collect::<Result<_, _>>()
                    .map_err(failed(action))
            }

            /// Applies the steps of `steps` the database has not recorded.
            pub(crate) async fn apply_schema(
                pool: &Pool<Db>,
                steps: &[&str],
            ) -> Result<(), StoreError> {
                let action = "apply the event log's schema";
                let mut tx = pool
                    .begin_with(DIALECT.begin_schema)
                    .await
                    .map_err(failed(action))?;
                sqlx::raw_sql(crate::schema::VERSION_TABLE)
                    .execute(&mut *tx)
                    .await
                    .map_err(failed(action))?;
                let (applied,): (i64,) = sqlx::query_as(
                    "SELECT CAST(COALESCE(MAX(version), 0) AS BIGINT) FROM eventbus_schema_version",
                )
                .fetch_one(&mut *tx)
                .await
                .map_err(failed(action))?;
                let known = steps.len();
                let applied = usize::try_from(applied).unwrap_or(usize::MAX);
                if applied > known {
                    return Err(StoreError::NewerSchema { applied, known });
                }
                for (at, step) in steps.iter().enumerate().skip(applied) {
                    sqlx::raw_sql(step)
                        .execute(&mut *tx)
                        .await
                        .map_err(failed(action))?;
                    let mut record = QueryBuilder::<Db>::new(
                        "INSERT INTO eventbus_schema_version (version, applied_at) VALUES (",
                    );
                    record.push_bind(i64::try_from(at + 1).unwrap_or(i64::MAX));
                    record.push(", ");
                    record.push_bind(crate::row::now_text());
                    record.push(")");
                    record
                        .build()
                        .execute(&mut *tx)
                        .await
                        .map_err(failed(action))?;
                }
                tx.commit().await.map_err(failed(action))
            }
        }
    };
}

backend!(sqlite, sqlx::Sqlite, super::SQLITE);
backend!(postgres, sqlx::Postgres, super::POSTGRES);
