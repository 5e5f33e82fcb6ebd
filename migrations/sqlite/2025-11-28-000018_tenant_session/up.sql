-- Operator session edits for a tenant's new calls (PUT /api/tenants/{id}/session)
-- are kept here so they survive a restart and reach every node of a cluster:
-- `session_json` is the merged settings as JSON, `session_version` counts the
-- edits (a node applies an edit it hears of only when it is newer than what
-- it holds). Keep in step with the other backend's migration of the same name.
ALTER TABLE tenants ADD COLUMN session_json TEXT;
ALTER TABLE tenants ADD COLUMN session_version BIGINT NOT NULL DEFAULT 0;
