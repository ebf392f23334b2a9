-- bucketbus schema v6 (SQLite): v4's index on deliveries (state, id) lured SQLite's planner
-- into scanning every pending delivery, once per outcome in a batch, when recording attempts
-- (UPDATE … FROM json_each, joined on the delivery id): delivery slowed to ~100/s with a
-- backlog of thousands. Dead letters, which ledger queries look up by state, get a partial
-- index instead; it can only serve queries that ask for state = 2.
DROP INDEX deliveries_state;
CREATE INDEX deliveries_dead ON deliveries (id) WHERE state = 2;
