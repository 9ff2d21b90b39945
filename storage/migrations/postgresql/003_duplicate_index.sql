-- A new request is checked against the requester's pending ones for an identical one (a command
-- sent twice). This index finds it directly, however many requests the requester has made.
CREATE INDEX requests_by_requester_state ON requests (requester, state, role, scope);
