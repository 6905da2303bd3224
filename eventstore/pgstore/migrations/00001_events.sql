-- The event log of record. Positions are assigned by the group-commit writer
-- under an advisory lock, so they are gap-free and in commit order. data and
-- metadata are json (not jsonb) so the stored bytes are exactly the hashed
-- bytes; cast to jsonb to query them.

-- +goose Up
CREATE TABLE events (
    position       bigint      PRIMARY KEY CHECK (position >= 1),
    stream_id      text        NOT NULL CHECK (stream_id <> ''),
    stream_version bigint      NOT NULL CHECK (stream_version >= 1),
    event_id       uuid        NOT NULL UNIQUE,
    type           text        NOT NULL CHECK (type <> ''),
    schema_version int         NOT NULL CHECK (schema_version >= 1),
    data           json        NOT NULL,
    metadata       json        NOT NULL,
    occurred_at    timestamptz NOT NULL,
    recorded_at    timestamptz NOT NULL,
    prev_hash      bytea       NOT NULL CHECK (length(prev_hash) = 32),
    hash           bytea       NOT NULL CHECK (length(hash) = 32),
    UNIQUE (stream_id, stream_version)
);

-- +goose StatementBegin
CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
-- +goose StatementEnd

CREATE TRIGGER events_no_update_delete
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();

CREATE TRIGGER events_no_truncate
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();

-- Roles are cluster-wide: another database on the server may have created it,
-- possibly at the same moment.
-- +goose StatementBegin
DO $$
BEGIN
    CREATE ROLE dealcredit_app NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;
-- +goose StatementEnd

REVOKE ALL ON events FROM PUBLIC;
GRANT SELECT, INSERT ON events TO dealcredit_app;
