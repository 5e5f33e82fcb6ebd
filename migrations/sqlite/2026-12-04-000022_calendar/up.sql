-- Bookings in the business's own calendar (issue 24). Keep in step with the
-- other backend's migration of the same name.

-- The CalDAV event a booking became (RFC 4791 §5.3.2): its URL and the ETag the
-- server answered, for a later `If-Match` delete. NULL until the event lands,
-- and for tenants without `[tenants.calendar]`.
ALTER TABLE appointments ADD COLUMN calendar_href TEXT;
ALTER TABLE appointments ADD COLUMN calendar_etag TEXT;

-- Event writes the calendar has not taken yet: `put` (create the booking's
-- event) or `delete` (remove a cancelled booking's event). One per appointment;
-- retried until they land, across restarts.
CREATE TABLE calendar_writes (
    appointment_id TEXT PRIMARY KEY NOT NULL,
    tenant_id      TEXT NOT NULL,
    op             TEXT NOT NULL CHECK (op IN ('put', 'delete')),
    attempts       INTEGER NOT NULL DEFAULT 0,
    last_error     TEXT,
    created_at     TIMESTAMP NOT NULL,
    updated_at     TIMESTAMP NOT NULL
);
CREATE INDEX calendar_writes_tenant_idx ON calendar_writes (tenant_id);

-- The secret of each tenant's subscribable feed (`GET /calendar/{tenant}.ics`).
-- Kept as issued: `switchboard calendar feed-url` prints the whole URL again.
CREATE TABLE calendar_feeds (
    tenant_id  TEXT PRIMARY KEY NOT NULL,
    token      TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
