DROP TABLE voicemails;
DELETE FROM caller_messages WHERE kind = 'voicemail';
CREATE TABLE caller_messages_old (
    id           TEXT PRIMARY KEY NOT NULL,
    tenant_id    TEXT NOT NULL,
    call_id      TEXT,
    kind         TEXT NOT NULL CHECK (kind IN ('message', 'callback_info')),
    caller_name  TEXT NOT NULL,
    caller_phone TEXT,
    message      TEXT NOT NULL,
    urgency      TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    status       TEXT NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'read', 'handled')),
    handled_by   TEXT,
    handled_at   TIMESTAMP
);
INSERT INTO caller_messages_old SELECT * FROM caller_messages;
DROP TABLE caller_messages;
ALTER TABLE caller_messages_old RENAME TO caller_messages;
CREATE INDEX caller_messages_tenant_idx ON caller_messages (tenant_id, created_at);
