-- The owner's inbox and notifications (issue 16). Keep in step with the other
-- backend's migration of the same name: same tables, same columns.

-- A short summary of the call (who called, what they wanted, what was done),
-- written once the call has ended.
ALTER TABLE calls ADD COLUMN summary TEXT;

-- Taken messages are read and handled by the owner: `new` → `read` → `handled`.
ALTER TABLE caller_messages ADD COLUMN status TEXT NOT NULL DEFAULT 'new'
    CHECK (status IN ('new', 'read', 'handled'));
ALTER TABLE caller_messages ADD COLUMN handled_by TEXT;
ALTER TABLE caller_messages ADD COLUMN handled_at TIMESTAMP;
CREATE INDEX appointments_tenant_start_idx ON appointments (tenant_id, starts_at);

-- Owner notifications, stored before they are sent (an outbox): one row per
-- event and recipient; `event_key` + `recipient` is unique, so an event
-- enqueued twice is sent once. `channel`: `sms` or `email`; `status`:
-- `pending` (due at `next_attempt_at`), `sent` or `failed` (given up).
CREATE TABLE notifications (
    id              TEXT PRIMARY KEY NOT NULL,
    tenant_id       TEXT NOT NULL,
    event_key       TEXT NOT NULL,
    event           TEXT NOT NULL
        CHECK (event IN ('message_taken', 'booking_made', 'booking_cancelled', 'call_summary')),
    urgent          BOOLEAN NOT NULL DEFAULT FALSE,
    channel         TEXT NOT NULL CHECK (channel IN ('sms', 'email')),
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    call_id         TEXT,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    last_error      TEXT,
    provider_id     TEXT,
    created_at      TIMESTAMP NOT NULL,
    sent_at         TIMESTAMP,
    UNIQUE (event_key, recipient)
);
CREATE INDEX notifications_due_idx ON notifications (status, next_attempt_at);
CREATE INDEX notifications_tenant_idx ON notifications (tenant_id, created_at);
