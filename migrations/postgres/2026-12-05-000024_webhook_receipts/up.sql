-- Webhook deliveries already acted on (issue 29), so a retried or replayed
-- delivery does nothing twice on any node of a cluster. Keep in step with the
-- other backend's migration of the same name.
--
-- `key`: `openai:<webhook-id>` for a delivery; `openai-sip:<session or call
-- id>` for the call it announced (OpenAI may announce one call twice: the Live
-- event under its new and its deprecated name). Rows older than the signature
-- window (5 minutes) can no longer match a valid delivery and are purged.
CREATE TABLE webhook_receipts (
    key TEXT PRIMARY KEY NOT NULL,
    received_at TIMESTAMP NOT NULL
);
CREATE INDEX webhook_receipts_received_at ON webhook_receipts (received_at);
