ALTER TABLE calls DROP COLUMN recording_note;
ALTER TABLE calls DROP COLUMN recording_file;
