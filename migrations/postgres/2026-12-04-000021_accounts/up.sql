-- Accounts (issue 25): people who sign in to the dashboard (owner and staff of
-- one tenant, or an admin of the whole server), their server-side sessions,
-- integration tokens scoped to one tenant, and the audit log of every change
-- a person or token made. Passwords are Argon2id PHC strings; session ids and
-- tokens are kept only as SHA-256 hashes. Keep in step with the other
-- backend's migration of the same name.
CREATE TABLE users (
    id            TEXT PRIMARY KEY NOT NULL,
    email         TEXT NOT NULL UNIQUE,
    tenant_id     TEXT,
    role          TEXT NOT NULL CHECK (role IN ('owner', 'staff', 'admin')),
    password_hash TEXT NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    CHECK ((role = 'admin') = (tenant_id IS NULL))
);

CREATE TABLE user_sessions (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    address    TEXT
);
CREATE INDEX user_sessions_user_idx ON user_sessions (user_id);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY NOT NULL,
    tenant_id    TEXT NOT NULL,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    read_only    BOOLEAN NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP,
    revoked_at   TIMESTAMP
);

CREATE TABLE audit_log (
    id         TEXT PRIMARY KEY NOT NULL,
    at         TIMESTAMP NOT NULL,
    actor      TEXT NOT NULL,
    actor_kind TEXT NOT NULL,
    tenant_id  TEXT,
    action     TEXT NOT NULL,
    object     TEXT,
    detail     TEXT,
    address    TEXT
);
CREATE INDEX audit_log_tenant_idx ON audit_log (tenant_id, at);
CREATE INDEX audit_log_at_idx ON audit_log (at);
