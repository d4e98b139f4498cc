//! The tables, as plain SQL per backend, one step per schema version.
//! Applied on open under a lock and recorded in `eventbus_schema_version`
//! (not sqlx's `_sqlx_migrations`, which would collide with the user's own
//! migrations). A step is never edited once released: changes are new
//! steps.

/// SQLite: ids and times as text (lowercase hyphenated UUIDs, RFC 3339
/// UTC with microseconds), the payload as JSON text.
pub(crate) const SQLITE: &[&str] = &["
CREATE TABLE IF NOT EXISTS eventbus_events (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    stream TEXT NOT NULL,
    stream_version BIGINT NOT NULL,
    event_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    payload TEXT NOT NULL,
    correlation_id TEXT NOT NULL,
    causation_id TEXT NULL,
    origin TEXT NOT NULL CHECK (origin IN ('local', 'remote', 'replay')),
    source TEXT NULL,
    handled BOOLEAN NOT NULL,
    recorded_at TEXT NOT NULL,
    UNIQUE (stream, stream_version)
);
CREATE TABLE IF NOT EXISTS eventbus_checkpoints (
    name TEXT PRIMARY KEY,
    position BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS eventbus_leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS eventbus_snapshots (
    stream TEXT PRIMARY KEY,
    stream_version BIGINT NOT NULL,
    state TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS eventbus_dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    name TEXT NOT NULL,
    payload TEXT NOT NULL,
    handler TEXT NULL,
    sink TEXT NULL,
    error TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    failed_at TEXT NOT NULL
);
"];

/// PostgreSQL, in the connection's current schema.
pub(crate) const POSTGRES: &[&str] = &["
CREATE TABLE IF NOT EXISTS eventbus_events (
    position BIGSERIAL PRIMARY KEY,
    stream TEXT NOT NULL,
    stream_version BIGINT NOT NULL,
    event_id UUID NOT NULL UNIQUE,
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    payload JSONB NOT NULL,
    correlation_id UUID NOT NULL,
    causation_id UUID NULL,
    origin TEXT NOT NULL CHECK (origin IN ('local', 'remote', 'replay')),
    source TEXT NULL,
    handled BOOLEAN NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL,
    UNIQUE (stream, stream_version)
);
CREATE TABLE IF NOT EXISTS eventbus_checkpoints (
    name TEXT PRIMARY KEY,
    position BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS eventbus_snapshots (
    stream TEXT PRIMARY KEY,
    stream_version BIGINT NOT NULL,
    state JSONB NOT NULL
);
CREATE TABLE IF NOT EXISTS eventbus_dead_letters (
    id BIGSERIAL PRIMARY KEY,
    event_id UUID NOT NULL,
    name TEXT NOT NULL,
    payload JSONB NOT NULL,
    handler TEXT NULL,
    sink TEXT NULL,
    error TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    failed_at TIMESTAMPTZ NOT NULL
);
"];

/// The table the applied steps are recorded in.
pub(crate) const VERSION_TABLE: &str = "
CREATE TABLE IF NOT EXISTS eventbus_schema_version (
    version INTEGER PRIMARY KEY,
    applied_at TEXT NOT NULL
)";
