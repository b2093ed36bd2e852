-- A number that changes whenever the working roster does (who works, at what price, with what
-- output cap, network and skills), so a process may keep the roster in memory and still judge
-- every job on the roster as it is: the statement that inserts a job checks the number it
-- judged by, and a job judged on an older roster is judged again. HR's counters (updated with
-- every job's outcome) do not change it.
CREATE TABLE roster_version (
    id       boolean PRIMARY KEY DEFAULT true CHECK (id),
    version  bigint NOT NULL
);
INSERT INTO roster_version (id, version) VALUES (true, 1);

CREATE FUNCTION bump_roster_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE roster_version SET version = version + 1;
    RETURN NULL;
END $$;

CREATE TRIGGER employees_roster_version AFTER INSERT OR DELETE ON employees
    FOR EACH ROW EXECUTE FUNCTION bump_roster_version();
CREATE TRIGGER employees_roster_version_changed AFTER UPDATE ON employees
    FOR EACH ROW
    WHEN ((to_jsonb(OLD) - '{good_jobs,failures_in_a_row}'::text[])
          IS DISTINCT FROM (to_jsonb(NEW) - '{good_jobs,failures_in_a_row}'::text[]))
    EXECUTE FUNCTION bump_roster_version();
