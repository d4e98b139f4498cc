//! The common append in as few round trips as each database allows: new
//! records to one stream, checked and written all at once, with no
//! snapshot. When the check fails (a stored event id, a stream at another
//! version) it writes nothing and returns `None`, and the general path in
//! [`crate::sql`] runs: it says which check failed, or writes the records
//! not stored yet.

use std::collections::HashSet;

use sqlx::{Connection, PgPool, QueryBuilder, Sqlite, SqliteConnection};

use crate::expected::ExpectedVersion;
use crate::row::NewRow;
use crate::sql::CHUNK;

/// Whether `rows` can take the fast path: 1 to [`CHUNK`] rows, all of
/// `stream`, each event id once.
pub(crate) fn fits(stream: &str, rows: &[NewRow<'_>]) -> bool {
    let mut ids = HashSet::with_capacity(rows.len());
    (1..=CHUNK).contains(&rows.len())
        && rows
            .iter()
            .all(|row| row.stream == stream && ids.insert(row.event_id.as_str()))
}

/// The version an append expects, as the SQL on both databases takes it:
/// `NULL` for any.
fn expected_bind(expected: ExpectedVersion) -> Option<i64> {
    match expected {
        ExpectedVersion::Any => None,
        ExpectedVersion::NoStream => Some(0),
        ExpectedVersion::Exact(version) => Some(i64::try_from(version).unwrap_or(i64::MAX)),
    }
}

/// SQLite: `BEGIN IMMEDIATE` (the write lock), one `INSERT ... SELECT`
/// that writes every row or none, `COMMIT`. No `RETURNING`: under the
/// write lock the rows take consecutive positions (the table is
/// `AUTOINCREMENT`), ending at `last_insert_rowid()`.
pub(crate) async fn sqlite(
    connection: &mut SqliteConnection,
    stream: &str,
    expected: ExpectedVersion,
    rows: &[NewRow<'_>],
) -> Result<Option<Vec<u64>>, sqlx::Error> {
    let mut tx = connection.begin_with("BEGIN IMMEDIATE").await?;
    let mut query = QueryBuilder::<Sqlite>::new(
        "WITH new (step, event_id, name, version, payload, correlation_id, causation_id, origin, \
         source, handled, recorded_at) AS (",
    );
    query.push_values(rows.iter().zip(1_i64..), |mut values, (row, step)| {
        values.push_bind(step);
        values.push_bind(row.event_id.as_str());
        values.push_bind(row.name);
        values.push_bind(row.version);
        values.push_bind(row.payload);
        values.push_bind(row.correlation_id.as_str());
        values.push_bind(row.causation_id.as_deref());
        values.push_bind(row.origin);
        values.push_bind(row.source);
        values.push_bind(row.handled);
        values.push_bind(row.recorded_at.as_str());
    });
    query.push(
        "), last (version) AS (SELECT COALESCE((SELECT stream_version FROM eventbus_events \
         WHERE stream = ",
    );
    query.push_bind(stream);
    // The last row by the (stream, stream_version) index, not `MAX`: in
    // this statement SQLite would read every row of the stream for it.
    query.push(" ORDER BY stream_version DESC LIMIT 1), 0)");
    query.push(
        ") INSERT INTO eventbus_events (stream, stream_version, event_id, name, version, payload, \
         correlation_id, causation_id, origin, source, handled, recorded_at) SELECT ",
    );
    query.push_bind(stream);
    query.push(
        ", last.version + new.step, new.event_id, new.name, new.version, new.payload, \
         new.correlation_id, new.causation_id, new.origin, new.source, new.handled, \
         new.recorded_at FROM new, last WHERE NOT EXISTS (SELECT 1 FROM eventbus_events WHERE \
         event_id IN (SELECT event_id FROM new)) AND (",
    );
    query.push_bind(expected_bind(expected));
    query.push(" IS NULL OR last.version = ");
    query.push_bind(expected_bind(expected));
    query.push(") ORDER BY new.step");
    let done = query.build().execute(&mut *tx).await?;
    if done.rows_affected() == 0 {
        // Refused: the transaction rolls back as it drops.
        return Ok(None);
    }
    tx.commit().await?;
    let last = u64::try_from(done.last_insert_rowid()).unwrap_or_default();
    let first = last + 1 - done.rows_affected();
    Ok(Some((first..=last).collect()))
}

/// PostgreSQL: one call of the schema's `eventbus_append` function, in a
/// transaction of its own: the lock, the checks, the insert and the
/// commit in one round trip.
pub(crate) async fn postgres(
    pool: &PgPool,
    stream: &str,
    expected: ExpectedVersion,
    rows: &[NewRow<'_>],
) -> Result<Option<Vec<u64>>, sqlx::Error> {
    /// One column of `rows`, as an array to bind.
    fn column<'r, T>(rows: &'r [NewRow<'_>], get: impl Fn(&'r NewRow<'_>) -> T) -> Vec<T> {
        rows.iter().map(get).collect()
    }
    let positions: Option<Vec<i64>> = sqlx::query_scalar(
        "SELECT eventbus_append($1, $2, $3::uuid[], $4, $5::integer[], $6::jsonb[], \
         $7::uuid[], $8::uuid[], $9, $10, $11, $12::timestamptz[])",
    )
    .bind(stream)
    .bind(expected_bind(expected))
    .bind(column(rows, |row| row.event_id.as_str()))
    .bind(column(rows, |row| row.name))
    .bind(column(rows, |row| row.version))
    .bind(column(rows, |row| row.payload))
    .bind(column(rows, |row| row.correlation_id.as_str()))
    .bind(column(rows, |row| row.causation_id.as_deref()))
    .bind(column(rows, |row| row.origin))
    .bind(column(rows, |row| row.source))
    .bind(column(rows, |row| row.handled))
    .bind(column(rows, |row| row.recorded_at.as_str()))
    .fetch_one(pool)
    .await?;
    Ok(positions.map(|positions| {
        positions
            .into_iter()
            .map(|position| u64::try_from(position).unwrap_or_default())
            .collect()
    }))
}
