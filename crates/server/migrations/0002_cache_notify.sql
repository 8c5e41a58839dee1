-- Servers cache successful project and key lookups; any change to projects or
-- key sets tells every server to drop that cache.
CREATE FUNCTION notify_auth_cache() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('stack_server_settings', 'cache');
    RETURN NULL;
END;
$$;

CREATE TRIGGER projects_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON projects
    FOR EACH STATEMENT EXECUTE FUNCTION notify_auth_cache();
CREATE TRIGGER api_key_sets_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON api_key_sets
    FOR EACH STATEMENT EXECUTE FUNCTION notify_auth_cache();
