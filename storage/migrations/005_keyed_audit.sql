-- Audit records sealed with an HMAC under a key kept outside the database (keyed = 1), after
-- the plain SHA-256 records written before there was a key (keyed = 0). `jitbot audit verify`
-- refuses a plain record after a keyed one: rebuilding the tail without the key would need that.
ALTER TABLE audit ADD COLUMN keyed INTEGER NOT NULL DEFAULT 0;
