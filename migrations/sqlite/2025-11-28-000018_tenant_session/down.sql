ALTER TABLE tenants DROP COLUMN session_version;
ALTER TABLE tenants DROP COLUMN session_json;
