-- The text a click carries with it: the reason typed into the Deny modal.
ALTER TABLE inbox ADD COLUMN note TEXT NOT NULL DEFAULT '';
