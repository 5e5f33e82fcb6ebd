ALTER TABLE node_clients DROP COLUMN expires_at;
