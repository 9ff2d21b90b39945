-- When each notice entered the outbox (Unix milliseconds, wall clock), so /metrics can say how
-- long the oldest undelivered one has waited. Rows from before have 0: "unknown".
ALTER TABLE outbox ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0;
