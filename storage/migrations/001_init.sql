-- jitbot schema, version 1. Times are Unix milliseconds (UTC); durations are seconds.

CREATE TABLE requests (
  id                  TEXT PRIMARY KEY,
  version             INTEGER NOT NULL,
  state               TEXT NOT NULL,
  provider            TEXT NOT NULL,
  role                TEXT NOT NULL,
  scope               TEXT NOT NULL,
  duration_seconds    INTEGER NOT NULL,
  reason              TEXT NOT NULL,
  break_glass         INTEGER NOT NULL DEFAULT 0,
  requester           TEXT NOT NULL,
  created_at          INTEGER NOT NULL,
  pending_deadline    INTEGER NOT NULL,
  decided_by          TEXT NOT NULL DEFAULT '',
  decision_note       TEXT NOT NULL DEFAULT '',
  decided_at          INTEGER,
  granted_at          INTEGER,
  expires_at          INTEGER,
  ended_at            INTEGER,
  grant_id            TEXT NOT NULL DEFAULT '',
  backend             TEXT NOT NULL DEFAULT '',  -- who granted: revokes go there even if the config changes
  ending_as           TEXT,
  revoke_attempts     INTEGER NOT NULL DEFAULT 0,
  next_revoke_attempt INTEGER,
  last_error          TEXT NOT NULL DEFAULT ''
);
CREATE INDEX requests_by_state ON requests(state);
CREATE INDEX requests_by_requester ON requests(requester, created_at);

-- One row per approver: the primary key makes "distinct approvers" a database fact.
CREATE TABLE approvals (
  request_id  TEXT NOT NULL REFERENCES requests(id),
  approver    TEXT NOT NULL,
  approved_at INTEGER NOT NULL,
  PRIMARY KEY (request_id, approver)
);

-- Append-only, hash-chained: each row's hash covers its fields and the previous row's hash,
-- so `jitbot audit verify` notices an edited, deleted or reordered record.
CREATE TABLE audit (
  sequence    INTEGER PRIMARY KEY AUTOINCREMENT,
  request_id  TEXT NOT NULL,
  at          INTEGER NOT NULL,
  actor       TEXT NOT NULL,
  action      TEXT NOT NULL,
  from_state  TEXT NOT NULL,
  to_state    TEXT NOT NULL,
  detail      TEXT NOT NULL,
  prev_hash   TEXT NOT NULL,
  hash        TEXT NOT NULL
);
CREATE INDEX audit_by_request ON audit(request_id, sequence);

-- Chat notices written in the same transaction as the transition that caused them;
-- delivered rows are deleted (a DM may carry a console sign-in link).
CREATE TABLE outbox (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  kind        TEXT NOT NULL,
  event       TEXT NOT NULL,
  target      TEXT NOT NULL,
  request_id  TEXT NOT NULL,
  detail      TEXT NOT NULL DEFAULT '',
  console_url TEXT NOT NULL DEFAULT '',
  attempts    INTEGER NOT NULL DEFAULT 0,
  last_error  TEXT NOT NULL DEFAULT ''
);

-- Where each request's approval card lives (channel + message ts in Slack), for updates in place.
CREATE TABLE cards (
  request_id TEXT PRIMARY KEY,
  location   TEXT NOT NULL
);
