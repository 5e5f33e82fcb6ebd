ALTER TABLE calls DROP COLUMN answered_by;
