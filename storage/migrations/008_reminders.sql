-- Reminders and escalation of pending requests: how many reminders went out, when the next is
-- due, and when the request escalates (or did) to the role's escalation approvers.
ALTER TABLE requests ADD COLUMN reminders_sent INTEGER NOT NULL DEFAULT 0;
ALTER TABLE requests ADD COLUMN next_reminder_at INTEGER;
ALTER TABLE requests ADD COLUMN escalate_at INTEGER;
ALTER TABLE requests ADD COLUMN escalated_at INTEGER;
CREATE INDEX requests_by_reminder ON requests(next_reminder_at) WHERE next_reminder_at IS NOT NULL;
CREATE INDEX requests_by_escalation ON requests(escalate_at) WHERE escalate_at IS NOT NULL;
