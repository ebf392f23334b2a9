-- A counter every rule change bumps in its own transaction, so a broker notices rule changes
-- made by another replica.
CREATE TABLE rules_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
) STRICT;
INSERT INTO rules_version (id, version) VALUES (1, 0);
