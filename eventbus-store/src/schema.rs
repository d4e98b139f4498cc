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

/// PostgreSQL, in the connection's current schema. Step 2: every insert
/// into `eventbus_events` sends `NOTIFY eventbus_events` with the schema's
/// name when it commits, to wake the tails (`Store::subscribe_all`) of
/// every process, whoever wrote the rows; and `eventbus_append`, an
/// append in one call (the lock, the checks, the insert: see
/// `crate::fast`). It returns the positions of the records in their
/// order, or `NULL` having written nothing when an event id is stored
/// already or the stream is not at `expected_version` (`NULL`: any).
pub(crate) const POSTGRES: &[&str] = &[
    "
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
",
    "
CREATE OR REPLACE FUNCTION eventbus_events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('eventbus_events', current_schema());
    RETURN NULL;
END
$$;
CREATE TRIGGER eventbus_events_notify AFTER INSERT ON eventbus_events
    FOR EACH STATEMENT EXECUTE FUNCTION eventbus_events_notify();
CREATE OR REPLACE FUNCTION eventbus_append(
    append_stream TEXT,
    expected_version BIGINT,
    event_ids UUID[],
    names TEXT[],
    versions INTEGER[],
    payloads JSONB[],
    correlation_ids UUID[],
    causation_ids UUID[],
    origins TEXT[],
    sources TEXT[],
    handled_flags BOOLEAN[],
    recorded_ats TIMESTAMPTZ[]
) RETURNS BIGINT[] LANGUAGE plpgsql AS $$
DECLARE
    stored_already BOOLEAN;
    last_version BIGINT;
    appended BIGINT[];
BEGIN
    PERFORM pg_advisory_xact_lock(1702257153, hashtext(current_schema()));
    -- Planned on every call: a cached plan made while the table was
    -- small would scan it all.
    EXECUTE 'SELECT EXISTS (SELECT 1 FROM eventbus_events WHERE event_id = ANY ($1))'
        INTO stored_already USING event_ids;
    IF stored_already THEN
        RETURN NULL;
    END IF;
    SELECT COALESCE(MAX(stream_version), 0) INTO last_version
        FROM eventbus_events WHERE stream = append_stream;
    IF expected_version IS NOT NULL AND last_version <> expected_version THEN
        RETURN NULL;
    END IF;
    WITH inserted AS (
        INSERT INTO eventbus_events (stream, stream_version, event_id, name, version, payload,
            correlation_id, causation_id, origin, source, handled, recorded_at)
        SELECT append_stream, last_version + r.step, r.event_id, r.name, r.version, r.payload,
            r.correlation_id, r.causation_id, r.origin, r.source, r.handled, r.recorded_at
        FROM unnest(event_ids, names, versions, payloads, correlation_ids, causation_ids,
            origins, sources, handled_flags, recorded_ats) WITH ORDINALITY
            AS r (event_id, name, version, payload, correlation_id, causation_id, origin,
                source, handled, recorded_at, step)
        ORDER BY r.step
        RETURNING position, stream_version
    )
    SELECT array_agg(inserted.position ORDER BY inserted.stream_version) INTO appended
        FROM inserted;
    RETURN appended;
END
$$;
",
];

/// The table the applied steps are recorded in.
pub(crate) const VERSION_TABLE: &str = "
CREATE TABLE IF NOT EXISTS eventbus_schema_version (
    version INTEGER PRIMARY KEY,
    applied_at TEXT NOT NULL
)";
