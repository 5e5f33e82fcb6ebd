-- Local two-channel call recordings and where each line sits in them (issue 26). Keep in step with the other
-- backend's migration of the same name.

-- The call's WAV file, relative to `recording.dir` (`tenant/date/call id.wav`),
-- written when the recorder closes it; NULL when the call was not recorded.
ALTER TABLE calls ADD COLUMN recording_file TEXT;
-- Why a recording stopped early or lost audio (a write error, a full queue),
-- shown beside the call; NULL when it is whole.
ALTER TABLE calls ADD COLUMN recording_note TEXT;

-- Where a transcript line began, ms from the call's start (the row's
-- `started_at`, the recording's first sample): the dashboard seeks the player
-- there. NULL for lines stored before it was kept.
ALTER TABLE transcript_entries ADD COLUMN offset_ms BIGINT;
