-- A counter every rule change bumps in its own transaction, so a replica notices rule changes
-- made by another one (a notification tells it at once; polling the counter is the fallback).
CREATE TABLE rules_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT  NOT NULL
);
INSERT INTO rules_version (id, version) VALUES (1, 0);
