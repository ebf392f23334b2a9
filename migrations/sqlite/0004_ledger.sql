-- bucketbus schema v4 (SQLite): the delivery ledger (every attempt), redrive and replay marks,
-- and the indexes that ledger queries, dead-letter filters and topic replays use.

-- Every attempt of every delivery, oldest first. Deleted with its delivery.
CREATE TABLE delivery_attempts (
    id          INTEGER PRIMARY KEY,
    delivery_id INTEGER NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    -- The delivery's attempt counter including this attempt (it restarts at 1 after a redrive).
    attempt     INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    latency_us  INTEGER NOT NULL,
    -- The HTTP status, when a response arrived.
    status      INTEGER,
    -- Why the attempt failed; NULL when it delivered.
    error       TEXT,
    -- What followed: 0 retry, 1 delivered, 2 dead.
    outcome     INTEGER NOT NULL
) STRICT;
CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id, id);

-- How a delivery came to be: 0 published, 1 redriven from the dead letters (at redriven_at),
-- 2 replayed from the topic's retained messages.
ALTER TABLE deliveries ADD COLUMN origin INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN redriven_at INTEGER;
CREATE INDEX deliveries_state ON deliveries (state, id);

-- Replays and retention read a topic's messages by time.
CREATE INDEX messages_topic_time ON messages (topic, published_at);
