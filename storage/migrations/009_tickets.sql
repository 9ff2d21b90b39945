-- The ticket a request's reason cites, when its role requires one: key, title and link as the
-- ticket system gave them, and whether the system could be asked at all.
ALTER TABLE requests ADD COLUMN ticket TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN ticket_title TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN ticket_url TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN ticket_verified INTEGER NOT NULL DEFAULT 0;
