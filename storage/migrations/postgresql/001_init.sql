-- jitbot on PostgreSQL, schema version 1: the same tables as the SQLite schema at its version 12,
-- so one row mapping serves both. Times are Unix milliseconds (UTC) and durations seconds, in
-- BIGINT; booleans are 0 and 1, as on SQLite.

CREATE TABLE requests (
  id                     TEXT PRIMARY KEY,
  version                BIGINT NOT NULL,
  state                  TEXT NOT NULL,
  provider               TEXT NOT NULL,
  role                   TEXT NOT NULL,
  scope                  TEXT NOT NULL,
  duration_seconds       BIGINT NOT NULL,
  reason                 TEXT NOT NULL,
  break_glass            INTEGER NOT NULL DEFAULT 0,
  requester              TEXT NOT NULL,
  created_at             BIGINT NOT NULL,
  pending_deadline       BIGINT NOT NULL,
  decided_by             TEXT NOT NULL DEFAULT '',
  decision_note          TEXT NOT NULL DEFAULT '',
  decided_at             BIGINT,
  granted_at             BIGINT,
  expires_at             BIGINT,
  ended_at               BIGINT,
  grant_id               TEXT NOT NULL DEFAULT '',
  backend                TEXT NOT NULL DEFAULT '',  -- who granted: revokes go there even if the config changes
  ending_as              TEXT,
  revoke_attempts        INTEGER NOT NULL DEFAULT 0,
  next_revoke_attempt    BIGINT,
  last_error             TEXT NOT NULL DEFAULT '',
  grant_started_at       BIGINT,                    -- a grant re-run after a crash still ends on time
  whole_target           INTEGER NOT NULL DEFAULT 0,
  lingers_until          BIGINT,
  reviewed_by            TEXT NOT NULL DEFAULT '',
  reviewed_at            BIGINT,
  review_note            TEXT NOT NULL DEFAULT '',
  next_realert_at        BIGINT,
  reminders_sent         INTEGER NOT NULL DEFAULT 0,
  next_reminder_at       BIGINT,
  escalate_at            BIGINT,
  escalated_at           BIGINT,
  ticket                 TEXT NOT NULL DEFAULT '',
  ticket_title           TEXT NOT NULL DEFAULT '',
  ticket_url             TEXT NOT NULL DEFAULT '',
  ticket_verified        INTEGER NOT NULL DEFAULT 0,
  extension_status       TEXT NOT NULL DEFAULT 'none',
  extension_seconds      BIGINT NOT NULL DEFAULT 0,
  extension_reason       TEXT NOT NULL DEFAULT '',
  extension_requested_at BIGINT,
  extension_approvers    TEXT NOT NULL DEFAULT '',
  extension_decided_by   TEXT NOT NULL DEFAULT '',
  extension_note         TEXT NOT NULL DEFAULT '',
  extended_seconds       BIGINT NOT NULL DEFAULT 0,
  warn_at                BIGINT
);
CREATE INDEX requests_by_state ON requests (state);
CREATE INDEX requests_by_requester ON requests (requester, created_at);
CREATE INDEX requests_with_revoke_pending ON requests (ending_as) WHERE ending_as IS NOT NULL;
CREATE INDEX requests_by_realert ON requests (next_realert_at) WHERE next_realert_at IS NOT NULL;
CREATE INDEX requests_unreviewed ON requests (created_at) WHERE break_glass = 1 AND reviewed_at IS NULL;
CREATE INDEX requests_by_reminder ON requests (next_reminder_at) WHERE next_reminder_at IS NOT NULL;
CREATE INDEX requests_by_escalation ON requests (escalate_at) WHERE escalate_at IS NOT NULL;
CREATE INDEX requests_by_warning ON requests (warn_at) WHERE warn_at IS NOT NULL;

-- One row per approver: the primary key makes "distinct approvers" a database fact. `position`
-- keeps the order they approved in when two approve within the same millisecond.
CREATE TABLE approvals (
  request_id  TEXT NOT NULL REFERENCES requests (id),
  approver    TEXT NOT NULL,
  approved_at BIGINT NOT NULL,
  position    BIGINT GENERATED ALWAYS AS IDENTITY,
  PRIMARY KEY (request_id, approver)
);

-- Append-only, hash-chained (see audit_chain.hpp). Sequences are given out under an advisory
-- lock by the writer, not by a sequence object, so the chain has no gaps and one order.
CREATE TABLE audit (
  sequence   BIGINT PRIMARY KEY,
  request_id TEXT NOT NULL,
  at         BIGINT NOT NULL,
  actor      TEXT NOT NULL,
  action     TEXT NOT NULL,
  from_state TEXT NOT NULL,
  to_state   TEXT NOT NULL,
  detail     TEXT NOT NULL,
  prev_hash  TEXT NOT NULL,
  hash       TEXT NOT NULL,
  keyed      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX audit_by_request ON audit (request_id, sequence);

-- Chat notices, written in the transaction of the transition that caused them; delivered rows
-- are deleted (a DM may carry a console sign-in link).
CREATE TABLE outbox (
  id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind            TEXT NOT NULL,
  event           TEXT NOT NULL,
  target          TEXT NOT NULL,
  request_id      TEXT NOT NULL,
  detail          TEXT NOT NULL DEFAULT '',
  console_url     TEXT NOT NULL DEFAULT '',
  attempts        INTEGER NOT NULL DEFAULT 0,
  last_error      TEXT NOT NULL DEFAULT '',
  next_attempt_at BIGINT NOT NULL DEFAULT 0,
  lease_until     BIGINT,
  parked_at       BIGINT,
  created_at      BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX outbox_by_due_time ON outbox (next_attempt_at, id) WHERE parked_at IS NULL;
CREATE INDEX outbox_by_lane ON outbox (request_id, target, id);

CREATE TABLE cards (
  request_id TEXT PRIMARY KEY,
  location   TEXT NOT NULL
);

CREATE TABLE alert_messages (
  request_id TEXT NOT NULL,
  target     TEXT NOT NULL,
  location   TEXT NOT NULL,
  PRIMARY KEY (request_id, target)
);

-- One row per backend call still to make, leased by the worker that makes it.
CREATE TABLE jobs (
  id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  request_id  TEXT NOT NULL REFERENCES requests (id),
  action      TEXT NOT NULL,
  backend     TEXT NOT NULL,
  attempts    INTEGER NOT NULL DEFAULT 0,
  not_before  BIGINT NOT NULL,
  lease_until BIGINT,
  last_error  TEXT NOT NULL DEFAULT '',
  UNIQUE (request_id, action)
);
CREATE INDEX jobs_by_due_time ON jobs (not_before);

-- Slash commands and clicks, kept before Slack is acked and removed by the transaction that
-- handles them.
CREATE TABLE inbox (
  id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind        TEXT NOT NULL,
  actor       TEXT NOT NULL,
  body        TEXT NOT NULL,
  target      TEXT NOT NULL DEFAULT '',
  reply_to    TEXT NOT NULL DEFAULT '',
  received_at BIGINT NOT NULL,
  lease_until BIGINT,
  attempts    INTEGER NOT NULL DEFAULT 0,
  note        TEXT NOT NULL DEFAULT ''
);
