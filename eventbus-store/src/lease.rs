//! SQLite's leases: who holds each reader's name (a relay, a projection),
//! in `eventbus_leases`, until when. (PostgreSQL holds names with session
//! advisory locks: see `Store::hold`.)

use sqlx::{QueryBuilder, Sqlite};

use crate::error::StoreError;

/// Claims `name` for `holder` until `until` when nobody else
/// holds it past `now` (SQLite's leases); whether it is held.
pub(crate) async fn hold<'e>(
    executor: impl sqlx::Executor<'e, Database = Sqlite>,
    name: &str,
    holder: &str,
    until: &str,
    now: &str,
    action: &str,
) -> Result<bool, StoreError> {
    let mut query = QueryBuilder::<Sqlite>::new(
        "INSERT INTO eventbus_leases (name, holder, expires_at) VALUES (",
    );
    query.push_bind(name);
    query.push(", ");
    query.push_bind(holder);
    query.push(", ");
    query.push_bind(until);
    query.push(
        ") ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
         expires_at = excluded.expires_at WHERE eventbus_leases.holder = \
         excluded.holder OR eventbus_leases.expires_at < ",
    );
    query.push_bind(now);
    let done = query
        .build()
        .execute(executor)
        .await
        .map_err(StoreError::database(action))?;
    Ok(done.rows_affected() == 1)
}

/// Gives up `holder`'s claim on `name`.
pub(crate) async fn release<'e>(
    executor: impl sqlx::Executor<'e, Database = Sqlite>,
    name: &str,
    holder: &str,
    action: &str,
) -> Result<(), StoreError> {
    let mut query = QueryBuilder::<Sqlite>::new("DELETE FROM eventbus_leases WHERE name = ");
    query.push_bind(name);
    query.push(" AND holder = ");
    query.push_bind(holder);
    query
        .build()
        .execute(executor)
        .await
        .map(drop)
        .map_err(StoreError::database(action))
}
