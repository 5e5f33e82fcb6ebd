-- Voicemail (issue 23): a caller whose receptionist's model is gone leaves a
-- message after the tone; it is a caller message of kind `voicemail` with its
-- audio in `voicemails`. Keep in step with the other backend's migration of
-- the same name.

-- SQLite cannot alter a CHECK constraint: caller_messages is rebuilt with
-- `voicemail` among its kinds, rows and index kept.
CREATE TABLE caller_messages_new (
    id           TEXT PRIMARY KEY NOT NULL,
    tenant_id    TEXT NOT NULL,
    call_id      TEXT,
    kind         TEXT NOT NULL CHECK (kind IN ('message', 'callback_info', 'voicemail')),
    caller_name  TEXT NOT NULL,
    caller_phone TEXT,
    message      TEXT NOT NULL,
    urgency      TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    status       TEXT NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'read', 'handled')),
    handled_by   TEXT,
    handled_at   TIMESTAMP
);
INSERT INTO caller_messages_new
    (id, tenant_id, call_id, kind, caller_name, caller_phone, message, urgency,
     created_at, status, handled_by, handled_at)
SELECT id, tenant_id, call_id, kind, caller_name, caller_phone, message, urgency,
       created_at, status, handled_by, handled_at
FROM caller_messages;
DROP TABLE caller_messages;
ALTER TABLE caller_messages_new RENAME TO caller_messages;
CREATE INDEX caller_messages_tenant_idx ON caller_messages (tenant_id, created_at);

-- The audio of a voicemail: a 16-bit mono WAV (`audio/wav`), its length, and
-- where it came from (`local`: captured by switchboard from the call's media
-- stream; `twilio`: a Twilio `<Record>` recording, `recording_sid` RE…).
CREATE TABLE voicemails (
    message_id    TEXT PRIMARY KEY NOT NULL REFERENCES caller_messages (id) ON DELETE CASCADE,
    call_id       TEXT,
    source        TEXT NOT NULL CHECK (source IN ('local', 'twilio')),
    recording_sid TEXT UNIQUE,
    content_type  TEXT NOT NULL,
    duration_ms   BIGINT NOT NULL,
    audio         BLOB NOT NULL,
    created_at    TIMESTAMP NOT NULL
);
