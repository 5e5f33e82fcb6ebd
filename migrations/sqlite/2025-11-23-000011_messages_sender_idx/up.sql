-- Finds a message a Node client resends without an id (same tenant, sender,
-- recipient and text within messaging.resend_window_secs).
CREATE INDEX messages_sender_idx ON messages (tenant_id, from_addr, created_at);
