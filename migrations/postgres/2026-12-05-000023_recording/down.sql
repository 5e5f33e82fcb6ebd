ALTER TABLE transcript_entries DROP COLUMN offset_ms;
ALTER TABLE calls DROP COLUMN recording_note;
ALTER TABLE calls DROP COLUMN recording_file;
