-- Extensions of active access: the latest one asked for (its status, how much longer, why, who
-- approved or denied it and why not), how much longer the access lasts through extensions so far,
-- and when its requester is warned that it ends soon.
ALTER TABLE requests ADD COLUMN extension_status TEXT NOT NULL DEFAULT 'none';
ALTER TABLE requests ADD COLUMN extension_seconds INTEGER NOT NULL DEFAULT 0;
ALTER TABLE requests ADD COLUMN extension_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN extension_requested_at INTEGER;
ALTER TABLE requests ADD COLUMN extension_approvers TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN extension_decided_by TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN extension_note TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN extended_seconds INTEGER NOT NULL DEFAULT 0;
ALTER TABLE requests ADD COLUMN warn_at INTEGER;
CREATE INDEX requests_by_warning ON requests(warn_at) WHERE warn_at IS NOT NULL;
