-- bucketbus schema v7 (SQLite): MNS topics and subscriptions, and message tags.

-- Topics created through the MNS API. A rule's topic has no row here: it is the rule's
-- (`rules.topic`), with the default attributes. Sizes are bytes; times Unix milliseconds.
CREATE TABLE topics (
    name                 TEXT    PRIMARY KEY,
    maximum_message_size INTEGER NOT NULL,
    logging_enabled      INTEGER NOT NULL,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- Who manages a subscription: 0 its rule (named ep-N, reconciled on every PutRule), 1 the MNS
-- API (named by the user, never touched by PutRule). MNS subscriptions keep the Endpoint text
-- as the user gave it, their filter tag (only messages with that tag reach them) and when
-- they were last changed.
ALTER TABLE subscriptions ADD COLUMN managed_by INTEGER NOT NULL DEFAULT 0;
ALTER TABLE subscriptions ADD COLUMN filter_tag TEXT;
ALTER TABLE subscriptions ADD COLUMN endpoint_text TEXT;
ALTER TABLE subscriptions ADD COLUMN updated_at INTEGER;
-- A live MNS subscription's name is unique within its topic.
CREATE UNIQUE INDEX subscriptions_mns_name ON subscriptions (topic, name)
    WHERE retired_at IS NULL AND managed_by = 1;

-- The MessageTag a message was published with (MNS PublishMessage); NULL for none.
ALTER TABLE messages ADD COLUMN tag TEXT;
