-- The newest audit head posted to the audit channel, by whichever replica: a replica posts a head
-- only if it moves this forward, so each head is posted once however many replicas see it.
CREATE TABLE audit_head_posts (
  one_row  INTEGER PRIMARY KEY DEFAULT 1 CHECK (one_row = 1),
  sequence BIGINT NOT NULL
);
INSERT INTO audit_head_posts (sequence) VALUES (0);
