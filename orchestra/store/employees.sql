-- insert_employee --
INSERT INTO employees (name, adapter, model, base_url, api_key_env, command, network, skills,
                       price_in, price_out, status)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (name) DO NOTHING
RETURNING *;

-- get_employee --
SELECT * FROM employees WHERE name = $1;

-- list_employees --
SELECT * FROM employees ORDER BY name;

-- pick_working_employee --
-- For a job that names no employee: a working employee, preferring one already resident in a
-- slot, then the oldest hire (HR scores will refine this choice in a later issue).
SELECT e.* FROM employees e
WHERE e.status IN ('probation', 'active')
ORDER BY EXISTS (SELECT 1 FROM pool_slots s WHERE s.employee = e.name) DESC, e.created_at, e.name
LIMIT 1;
