-- +goose Up
-- An in-flight row (status 0) belongs to the request holding owner until
-- lease_until: a request that died (its connection cut, the process killed)
-- leaves a row that a retry with the same key and body takes over once the
-- lease ran out. Rows left in flight by older versions expire at once.
ALTER TABLE api_idempotency
    ADD COLUMN owner       uuid,
    ADD COLUMN lease_until timestamptz NOT NULL DEFAULT now();

-- +goose Down
ALTER TABLE api_idempotency DROP COLUMN owner, DROP COLUMN lease_until;
