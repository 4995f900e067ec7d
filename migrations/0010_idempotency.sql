-- Idempotency-Key, the durable half (src/http/idempotency-commits.ts): one row per key whose
-- request changed something, written in that change's transaction. The replay records live in
-- the state store; this row stops a second attempt from changing anything again when a replay
-- record was lost. Rows older than PGA_IDEMPOTENCY_TTL are purged.
create table idempotency_commits (
  -- SHA-256 (hex) of principal, method, route template and the key.
  scope text primary key,
  -- The attempt that committed: a retry carries the same request id, so attempts have their own.
  attempt_id uuid not null,
  committed_at timestamptz not null default now()
);
create index on idempotency_commits (committed_at);
