-- Voicemail (issue 23): a caller whose receptionist's model is gone leaves a
-- message after the tone; it is a caller message of kind `voicemail` with its
-- audio in `voicemails`. Keep in step with the other backend's migration of
-- the same name.
ALTER TABLE caller_messages DROP CONSTRAINT caller_messages_kind_check;
ALTER TABLE caller_messages ADD CONSTRAINT caller_messages_kind_check
    CHECK (kind IN ('message', 'callback_info', 'voicemail'));

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
    audio         BYTEA NOT NULL,
    created_at    TIMESTAMP NOT NULL
);
