-- bucketbus schema v6 (Postgres): as on SQLite, v4's index on deliveries (state, id) gives way
-- to a partial index of the dead deliveries (ledger and dead-letter queries), so both
-- backends keep the same indexes.
DROP INDEX deliveries_state;
CREATE INDEX deliveries_dead ON deliveries (id) WHERE state = 2;
