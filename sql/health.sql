-- Health checks.

-- name: ping()$
SELECT 1;
