-- A Node client token may carry an expiry (UTC); past it the token is refused.
ALTER TABLE node_clients ADD COLUMN expires_at TIMESTAMP;
