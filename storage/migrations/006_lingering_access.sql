-- When access that the backend could not end (a DuploCloud console session) really ends, if
-- later than the revoke: the card and the requester's DM say so instead of "access removed".
ALTER TABLE requests ADD COLUMN lingers_until INTEGER;
