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
