-- bucketbus schema v2 (SQLite): queues. Times are Unix milliseconds, durations seconds.

-- Broker-wide secrets, created once (e.g. the key that signs receipt handles).
CREATE TABLE broker_keys (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE queues (
    id                       INTEGER PRIMARY KEY,
    name                     TEXT    NOT NULL UNIQUE,
    visibility_timeout       INTEGER NOT NULL,
    maximum_message_size     INTEGER NOT NULL,
    message_retention_period INTEGER NOT NULL,
    delay_seconds            INTEGER NOT NULL,
    polling_wait_seconds     INTEGER NOT NULL,
    max_receive_count        INTEGER NOT NULL,
    dead_letter_queue        TEXT,
    created_at               INTEGER NOT NULL,
    updated_at               INTEGER NOT NULL
) STRICT;

-- A queue's messages. A message is receivable when it is not dead and visible_at has passed;
-- receiving it moves visible_at to the end of its visibility timeout and bumps receipt_gen,
-- which invalidates every receipt handle issued before.
CREATE TABLE queue_messages (
    id                INTEGER PRIMARY KEY,
    queue_id          INTEGER NOT NULL,
    message_id        TEXT    NOT NULL,
    body              TEXT    NOT NULL,
    body_md5          TEXT    NOT NULL,
    priority          INTEGER NOT NULL,
    enqueued_at       INTEGER NOT NULL,
    first_dequeued_at INTEGER,
    dequeue_count     INTEGER NOT NULL DEFAULT 0,
    visible_at        INTEGER NOT NULL,
    receipt_gen       INTEGER NOT NULL DEFAULT 0,
    -- 1: a dead letter kept in its queue (no dead-letter queue was set).
    dead              INTEGER NOT NULL DEFAULT 0,
    -- The queue it was dead-lettered from, when it was moved here.
    dead_letter_from  TEXT
) STRICT;
CREATE INDEX queue_messages_visible ON queue_messages (queue_id, priority, visible_at) WHERE dead = 0;
CREATE INDEX queue_messages_age ON queue_messages (queue_id, enqueued_at);
