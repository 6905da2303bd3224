-- The role the daemon serves with (config.AppRole): it logs in, may select
-- and insert into the event log, and owns what it rebuilds at run time (the
-- projections' schemas proj_* and projection_checkpoints). It is neither a
-- superuser nor the owner of events, so it cannot update, delete or
-- truncate events, alter or drop the table, disable its triggers or set
-- session_replication_role. The role running the migrations owns events.
--
-- Roles are cluster-wide: other databases on the server (tests create many
-- at once) may create or alter the same role concurrently, so every step
-- tolerates losing that race and looks again. Creating or altering the role
-- needs CREATEROLE; a DBA may create it beforehand (with a password) instead.

-- +goose Up
-- +goose StatementBegin
DO $$
BEGIN
    FOR attempt IN 1..20 LOOP
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'dealcredit_app') THEN
                CREATE ROLE dealcredit_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
            ELSIF NOT (SELECT rolcanlogin FROM pg_roles WHERE rolname = 'dealcredit_app') THEN
                ALTER ROLE dealcredit_app LOGIN;
            END IF;
            RETURN;
        EXCEPTION WHEN duplicate_object OR unique_violation OR internal_error THEN
            -- Another database's migration created or altered the role at
            -- the same moment ("tuple concurrently updated"): look again.
            PERFORM pg_sleep(0.05 * attempt);
        END;
    END LOOP;
    RAISE EXCEPTION 'could not create or enable role dealcredit_app';
END
$$;
-- +goose StatementEnd

-- The app role must never be able to act as an owner.
-- +goose StatementBegin
DO $$
BEGIN
    IF (SELECT rolsuper OR rolbypassrls OR rolreplication FROM pg_roles WHERE rolname = 'dealcredit_app') THEN
        RAISE EXCEPTION 'role dealcredit_app is a superuser or bypasses RLS or replicates; it must not be';
    END IF;
    IF pg_has_role('dealcredit_app', (SELECT relowner FROM pg_class WHERE oid = 'events'::regclass), 'USAGE') THEN
        RAISE EXCEPTION 'role dealcredit_app owns events (or is a member of its owner); it must not';
    END IF;
    -- Projections create and swap their own schemas at run time.
    EXECUTE format('GRANT CONNECT, TEMPORARY, CREATE ON DATABASE %I TO dealcredit_app', current_database());
END
$$;
-- +goose StatementEnd

-- projection_checkpoints is created (and altered) by the projections at run
-- time in public.
GRANT USAGE, CREATE ON SCHEMA public TO dealcredit_app;

REVOKE ALL ON events FROM PUBLIC;
REVOKE ALL ON events FROM dealcredit_app;
GRANT SELECT, INSERT ON events TO dealcredit_app;

REVOKE ALL ON api_idempotency FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON api_idempotency TO dealcredit_app;

-- The migration bookkeeping is readable (for /readyz), never writable; so
-- are the owner's later tables in public (a new set's version table). A
-- table the daemon writes needs its grant here.
GRANT SELECT ON eventstore_migrations, api_goose_version, dbsetup_role_migrations TO dealcredit_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO dealcredit_app;

-- Read models built before this migration belong to whoever ran the daemon
-- then (often the owner or a superuser): hand them to the app role, which
-- drops and recreates them on rebuild. A migrating role that may not (it
-- needs to be a superuser or a member of dealcredit_app) drops them
-- instead, all together: the daemon rebuilds every read model from the log.
-- +goose StatementBegin
DO $$
DECLARE
    r record;
BEGIN
    BEGIN
        FOR r IN SELECT nspname FROM pg_namespace WHERE nspname LIKE 'proj\_%' LOOP
            EXECUTE format('ALTER SCHEMA %I OWNER TO dealcredit_app', r.nspname);
        END LOOP;
        FOR r IN SELECT c.oid::regclass AS rel FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE c.relkind IN ('r', 'p')
                   AND (n.nspname LIKE 'proj\_%' OR (n.nspname = 'public' AND c.relname = 'projection_checkpoints')) LOOP
            EXECUTE format('ALTER TABLE %s OWNER TO dealcredit_app', r.rel);
        END LOOP;
    EXCEPTION WHEN insufficient_privilege THEN
        FOR r IN SELECT nspname FROM pg_namespace WHERE nspname LIKE 'proj\_%' LOOP
            EXECUTE format('DROP SCHEMA %I CASCADE', r.nspname);
        END LOOP;
        DROP TABLE IF EXISTS public.projection_checkpoints;
    END;
END
$$;
-- +goose StatementEnd

-- +goose Down
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT ON TABLES FROM dealcredit_app;
REVOKE ALL ON eventstore_migrations, api_goose_version, dbsetup_role_migrations FROM dealcredit_app;
REVOKE ALL ON api_idempotency FROM dealcredit_app;
REVOKE CREATE ON SCHEMA public FROM dealcredit_app;
