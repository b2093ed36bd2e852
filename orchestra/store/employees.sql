-- insert_employee --
INSERT INTO employees (name, adapter, model, base_url, api_key_env, command, network, skills,
                       price_in, price_out, status, max_output_tokens, preset,
                       context_tokens)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
ON CONFLICT (name) DO NOTHING
RETURNING *;

-- get_employee --
SELECT * FROM employees WHERE name = $1;

-- list_employees --
SELECT * FROM employees ORDER BY name;

-- lock_employee --
-- Read for a change: concurrent edits and firings of one employee take turns.
SELECT * FROM employees WHERE name = $1 FOR UPDATE;

-- update_employee --
UPDATE employees SET model = $2, base_url = $3, api_key_env = $4, command = $5, network = $6,
                     skills = $7, price_in = $8, price_out = $9, max_output_tokens = $10,
                     context_tokens = $11
WHERE name = $1
RETURNING *;

-- set_employee_status --
-- A new standing clears the failure streak (a reinstated employee starts afresh).
UPDATE employees SET status = $2, failures_in_a_row = 0 WHERE name = $1 RETURNING *;

-- employee_scores --
-- HR's scores of every employee over its last $1 finished jobs (`employee_scores()`, migration
-- 007, which routing reads too): rates to four places, cost per success in USD.
SELECT s.employee, $1::integer AS score_window, s.jobs, s.successes,
       round(s.successes::numeric / nullif(s.jobs, 0), 4) AS success_rate,
       round(s.validations_passed::numeric / nullif(s.validated, 0), 4) AS validation_pass_rate,
       s.p50_latency_ms,
       round(s.total_cost / nullif(s.successes, 0), 8) AS cost_per_success
FROM employee_scores($1) AS s;
