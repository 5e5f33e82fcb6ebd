-- Several nodes (issue 13): the node carrying each call, so a survivor can close
-- a dead node's calls and a restarted node only its own. Keep in step with the
-- other backend's migration of the same name.
ALTER TABLE calls ADD COLUMN node_id TEXT;
CREATE INDEX calls_status_node_idx ON calls (status, node_id);
