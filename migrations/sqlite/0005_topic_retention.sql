-- bucketbus schema v5 (SQLite): topic retention. Messages are now pruned once delivered and
-- past their rule's retention, so the highest seq may be deleted; SQLite hands out seqs from
-- MAX(messages.seq) + 1 after a restart, so the highest pruned seq is kept here and a seq is
-- never reused (the S3 sequencer must keep increasing).
CREATE TABLE pruned_seqs (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    max_seq INTEGER NOT NULL
) STRICT;
INSERT INTO pruned_seqs (id, max_seq) VALUES (1, 0);
