-- +goose Up
-- api_idempotency remembers the first answer to a creating POST that carried
-- an Idempotency-Key, so a retry gets it back byte for byte. status 0 marks a
-- request still in flight.
CREATE TABLE api_idempotency (
    subject      text        NOT NULL,
    key          text        NOT NULL,
    method       text        NOT NULL,
    path         text        NOT NULL,
    request_hash bytea       NOT NULL,
    status       integer     NOT NULL DEFAULT 0,
    content_type text        NOT NULL DEFAULT '',
    position     bigint      NOT NULL DEFAULT 0,
    body         bytea       NOT NULL DEFAULT ''::bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subject, key)
);

-- +goose Down
DROP TABLE api_idempotency;
