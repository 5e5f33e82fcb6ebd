-- Answering machine detection on outbound calls (issue 23): Twilio's verdict
-- (`AnsweredBy`: human, machine_start, machine_end_beep, machine_end_silence,
-- machine_end_other, fax, unknown) as its AsyncAmdStatusCallback reported it;
-- NULL for calls without detection. Keep in step with the other backend's
-- migration of the same name.
ALTER TABLE calls ADD COLUMN answered_by TEXT;
