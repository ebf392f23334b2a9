-- bucketbus schema v5 (Postgres): topic retention. Messages are now pruned once delivered and
-- past their rule's retention. Postgres needs no new table for it (SQLite keeps the highest
-- pruned seq): seqs come from message_seq_blocks, which never goes back, so a pruned seq is
-- never handed out again. Recorded on the sequence itself for whoever maintains the schema.
COMMENT ON SEQUENCE message_seq_blocks IS
    'Message seqs (the S3 sequencer). Never reset or lower it: pruned messages must not get their seqs reused.';
