DROP TABLE notifications;
DROP INDEX appointments_tenant_start_idx;
ALTER TABLE caller_messages DROP COLUMN handled_at;
ALTER TABLE caller_messages DROP COLUMN handled_by;
ALTER TABLE caller_messages DROP COLUMN status;
ALTER TABLE calls DROP COLUMN summary;
