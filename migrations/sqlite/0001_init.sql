-- bucketbus schema v1 (SQLite). Times are Unix milliseconds.

-- Notification rules; the spec (events, filters, schema) is JSON. Each rule owns one topic.
CREATE TABLE rules (
    bucket     TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    topic      TEXT    NOT NULL UNIQUE,
    spec       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (bucket, name)
) STRICT;

-- A topic's endpoints. A subscription dropped from its rule is retired, not deleted: the
-- deliveries it already has still go out.
CREATE TABLE subscriptions (
    id         INTEGER PRIMARY KEY,
    topic      TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    endpoint   TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    retired_at INTEGER
) STRICT;
CREATE INDEX subscriptions_active ON subscriptions (topic) WHERE retired_at IS NULL;

-- The topics' append-only log. `seq` is broker-wide and monotonic (the S3 sequencer).
CREATE TABLE messages (
    seq          INTEGER PRIMARY KEY,
    id           TEXT    NOT NULL UNIQUE,
    topic        TEXT    NOT NULL,
    bucket       TEXT    NOT NULL,
    rule         TEXT    NOT NULL,
    object_key   TEXT    NOT NULL,
    event_name   TEXT    NOT NULL,
    body         TEXT    NOT NULL,
    published_at INTEGER NOT NULL
) STRICT;

-- One message x one HTTP subscription. state: 0 pending, 1 delivered, 2 dead.
-- A pending delivery is due when next_attempt_at has passed; leasing it for an attempt moves
-- next_attempt_at to the lease's end, so a crashed attempt is retried when the lease expires.
CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY,
    message_seq     INTEGER NOT NULL REFERENCES messages (seq),
    subscription_id INTEGER NOT NULL REFERENCES subscriptions (id),
    state           INTEGER NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_status     INTEGER,
    last_error      TEXT,
    updated_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX deliveries_due ON deliveries (subscription_id, next_attempt_at) WHERE state = 0;
CREATE INDEX deliveries_message ON deliveries (message_seq);

-- Results of records that carried a record_id, so a resend returns the original result.
CREATE TABLE record_results (
    record_id  TEXT    PRIMARY KEY,
    result     TEXT    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX record_results_created ON record_results (created_at);
