-- The scheduler asks for open requests (by state) or unfinished revokes (ending_as) on every
-- pass; this index lets SQLite answer the second half without scanning every old request.
CREATE INDEX requests_with_revoke_pending ON requests(ending_as) WHERE ending_as IS NOT NULL;
