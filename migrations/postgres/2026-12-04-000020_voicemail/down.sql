DROP TABLE voicemails;
DELETE FROM caller_messages WHERE kind = 'voicemail';
ALTER TABLE caller_messages DROP CONSTRAINT caller_messages_kind_check;
ALTER TABLE caller_messages ADD CONSTRAINT caller_messages_kind_check
    CHECK (kind IN ('message', 'callback_info'));
