-- read_director_key --
SELECT digest FROM director_key_record;

-- write_director_key --
INSERT INTO director_key_record (digest, recorded_at) VALUES ($1, now())
ON CONFLICT (only_row) DO UPDATE SET digest = EXCLUDED.digest, recorded_at = EXCLUDED.recorded_at;
