DROP INDEX calls_status_node_idx;
ALTER TABLE calls DROP COLUMN node_id;
