-- The engine: backend calls become durable jobs, chat input is kept until handled, and each
-- outbox row is retried, leased and parked on its own.

-- When the first grant attempt began, so a grant re-run after a crash still ends on time.
ALTER TABLE requests ADD COLUMN grant_started_at INTEGER;

-- One row per backend call still to make. A worker leases it (lease_until) for the backend's
-- timeout; a row whose lease ran out belongs to a worker that died and is claimed again.
CREATE TABLE jobs (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  request_id  TEXT NOT NULL REFERENCES requests(id),
  action      TEXT NOT NULL,             -- grant | revoke
  backend     TEXT NOT NULL,
  attempts    INTEGER NOT NULL DEFAULT 0,
  not_before  INTEGER NOT NULL,
  lease_until INTEGER,
  last_error  TEXT NOT NULL DEFAULT '',
  UNIQUE (request_id, action)
);
CREATE INDEX jobs_by_due_time ON jobs(not_before);

-- What a crash left of the old scheduler's work: grants of approved requests and unfinished revokes.
INSERT INTO jobs (request_id, action, backend, not_before)
  SELECT id, 'grant', backend, 0 FROM requests WHERE state = 'APPROVED';
INSERT INTO jobs (request_id, action, backend, not_before)
  SELECT id, 'revoke', backend, COALESCE(next_revoke_attempt, 0) FROM requests WHERE ending_as IS NOT NULL;

-- Slash commands and clicks, written before Slack is acked and removed in the transaction that
-- handles them.
CREATE TABLE inbox (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  kind        TEXT NOT NULL,              -- command | click
  actor       TEXT NOT NULL,
  body        TEXT NOT NULL,              -- command text, or the click's action
  target      TEXT NOT NULL DEFAULT '',   -- the clicked request
  reply_to    TEXT NOT NULL DEFAULT '',   -- response_url
  received_at INTEGER NOT NULL,
  lease_until INTEGER,
  attempts    INTEGER NOT NULL DEFAULT 0
);

ALTER TABLE outbox ADD COLUMN next_attempt_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN lease_until INTEGER;
ALTER TABLE outbox ADD COLUMN parked_at INTEGER;
CREATE INDEX outbox_by_due_time ON outbox(next_attempt_at, id) WHERE parked_at IS NULL;
-- A notice waits for earlier ones of its lane (request and target): a card is posted before
-- it is updated.
CREATE INDEX outbox_by_lane ON outbox(request_id, target, id);
