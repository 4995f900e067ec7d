-- Rewrap runs an operator can diagnose: a run overtaken by a newer rotation is 'superseded' (not
-- 'done', which would claim its values moved), and a run records which replica last worked on it
-- and the last error that stopped a pass (cleared when a pass gets through).
alter table pga_key_rewrap_runs drop constraint pga_key_rewrap_runs_state_check;
alter table pga_key_rewrap_runs add constraint pga_key_rewrap_runs_state_check
  check (state in ('running', 'done', 'superseded'));
alter table pga_key_rewrap_runs
  add column holder text,
  add column last_error text,
  add column last_error_at timestamptz;
