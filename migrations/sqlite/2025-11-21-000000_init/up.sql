-- switchboard initial schema (SQLite). Keep in step with
-- migrations/postgres/2025-11-21-000000_init/up.sql: same tables, same columns,
-- types that map identically through Diesel (TEXT, BIGINT, INTEGER, BOOLEAN,
-- TIMESTAMP as UTC without zone; ids are UUID strings).

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    config_json TEXT NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);

CREATE TABLE calls (
    id                  TEXT PRIMARY KEY NOT NULL,
    tenant_id           TEXT,
    carrier             TEXT NOT NULL,
    carrier_call_sid    TEXT,
    stream_sid          TEXT,
    from_number         TEXT,
    to_number           TEXT,
    status              TEXT NOT NULL
        CHECK (status IN ('in_progress', 'completed', 'refused', 'interrupted')),
    model_provider      TEXT,
    started_at          TIMESTAMP NOT NULL,
    ended_at            TIMESTAMP,
    duration_ms         BIGINT,
    ended_reason        TEXT,
    link_restarts       INTEGER NOT NULL DEFAULT 0,
    turn_latency_p50_ms INTEGER,
    turn_latency_max_ms INTEGER,
    recording_sid       TEXT
);
CREATE INDEX calls_carrier_call_sid_idx ON calls (carrier_call_sid);
CREATE INDEX calls_status_idx ON calls (status);
CREATE INDEX calls_started_at_idx ON calls (started_at);

CREATE TABLE transcript_entries (
    id          TEXT PRIMARY KEY NOT NULL,
    call_id     TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    role        TEXT NOT NULL,
    text        TEXT NOT NULL,
    item_id     TEXT,
    interrupted BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  TIMESTAMP NOT NULL,
    UNIQUE (call_id, seq)
);

CREATE TABLE tool_invocations (
    id           TEXT PRIMARY KEY NOT NULL,
    call_id      TEXT,
    tenant_id    TEXT,
    tool_call_id TEXT NOT NULL,
    name         TEXT NOT NULL,
    arguments    TEXT NOT NULL,
    result       TEXT,
    error        TEXT,
    duration_ms  BIGINT NOT NULL,
    created_at   TIMESTAMP NOT NULL
);
CREATE INDEX tool_invocations_call_id_idx ON tool_invocations (call_id);

CREATE TABLE customers (
    id         TEXT PRIMARY KEY NOT NULL,
    tenant_id  TEXT NOT NULL,
    name       TEXT,
    phone      TEXT,
    email      TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (tenant_id, phone)
);

CREATE TABLE appointments (
    id          TEXT PRIMARY KEY NOT NULL,
    tenant_id   TEXT NOT NULL,
    customer_id TEXT NOT NULL REFERENCES customers (id),
    service     TEXT NOT NULL,
    starts_at   TIMESTAMP NOT NULL,
    ends_at     TIMESTAMP NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('booked', 'cancelled')),
    call_id     TEXT,
    created_at  TIMESTAMP NOT NULL
);
-- One booked appointment per tenant and start time: of two racing bookings of
-- the same slot exactly one commits; cancelled rows do not hold the slot.
CREATE UNIQUE INDEX appointments_booked_slot_idx
    ON appointments (tenant_id, starts_at) WHERE status = 'booked';

CREATE TABLE caller_messages (
    id           TEXT PRIMARY KEY NOT NULL,
    tenant_id    TEXT NOT NULL,
    call_id      TEXT,
    kind         TEXT NOT NULL CHECK (kind IN ('message', 'callback_info')),
    caller_name  TEXT NOT NULL,
    caller_phone TEXT,
    message      TEXT NOT NULL,
    urgency      TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL
);
CREATE INDEX caller_messages_tenant_idx ON caller_messages (tenant_id, created_at);

CREATE TABLE messages (
    id          TEXT PRIMARY KEY NOT NULL,
    tenant_id   TEXT,
    channel     TEXT NOT NULL CHECK (channel IN ('sms', 'email')),
    direction   TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    provider_id TEXT UNIQUE,
    customer_id TEXT,
    from_addr   TEXT NOT NULL,
    to_addr     TEXT NOT NULL,
    subject     TEXT,
    body        TEXT NOT NULL,
    in_reply_to TEXT,
    created_at  TIMESTAMP NOT NULL
);

CREATE TABLE node_clients (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    tenant_ids TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);

CREATE TABLE outbox (
    id           TEXT PRIMARY KEY NOT NULL,
    seq          BIGINT NOT NULL,
    tenant_id    TEXT NOT NULL,
    payload      TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    delivered_at TIMESTAMP
);
CREATE INDEX outbox_tenant_seq_idx ON outbox (tenant_id, seq);
