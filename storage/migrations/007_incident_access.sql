-- Incident access: break-glass requests are reviewed after the fact and alerted again until
-- they are; each alert message is kept so it can be updated in place.
ALTER TABLE requests ADD COLUMN reviewed_by TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN reviewed_at INTEGER;
ALTER TABLE requests ADD COLUMN review_note TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN next_realert_at INTEGER;
CREATE INDEX requests_by_realert ON requests(next_realert_at) WHERE next_realert_at IS NOT NULL;
CREATE INDEX requests_unreviewed ON requests(created_at) WHERE break_glass = 1 AND reviewed_at IS NULL;

-- Where each request's alert lives in each channel (channel + message ts in Slack).
CREATE TABLE alert_messages (
  request_id TEXT NOT NULL,
  target     TEXT NOT NULL,
  location   TEXT NOT NULL,
  PRIMARY KEY (request_id, target)
);
