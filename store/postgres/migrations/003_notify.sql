-- Changes other servers sharing the database hear of at once (LISTEN
-- deployq), sent with the transaction that makes them: "d:ID" for a deploy
-- created or moved to another state, "l:" for the locks, "f:" for the
-- freezes, each followed by ":" and the deployq.origin setting of the
-- sending connection, so that a server skips its own.
CREATE FUNCTION deployq_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_TABLE_NAME = 'deploys' THEN
		PERFORM pg_notify('deployq', 'd:' || NEW.id || ':' || coalesce(current_setting('deployq.origin', true), ''));
		RETURN NULL;
	END IF;
	PERFORM pg_notify('deployq', left(TG_TABLE_NAME, 1) || '::' || coalesce(current_setting('deployq.origin', true), ''));
	RETURN NULL;
END;
$$;
CREATE TRIGGER deploys_created AFTER INSERT ON deploys FOR EACH ROW EXECUTE FUNCTION deployq_notify();
CREATE TRIGGER deploys_moved AFTER UPDATE OF state ON deploys FOR EACH ROW
	WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION deployq_notify();
CREATE TRIGGER locks_changed AFTER INSERT OR UPDATE OR DELETE ON locks FOR EACH STATEMENT EXECUTE FUNCTION deployq_notify();
CREATE TRIGGER freezes_changed AFTER INSERT OR UPDATE OR DELETE ON freezes FOR EACH STATEMENT EXECUTE FUNCTION deployq_notify();
