-- Tamper-evident audit trail (src/audit). Services write events into audit_outbox in the same
-- transaction as their change; the sealer moves them into audit_logs, chaining each entry to the
-- previous one by hash (RFC 8785 canonical JSON, SHA-256), and records a signed checkpoint per
-- batch in audit_log_verification: tree size, RFC 9162 Merkle root, the previous checkpoint's
-- hash. audit_logs and audit_log_verification are append-only: triggers reject UPDATE, DELETE and
-- TRUNCATE, and this role keeps only INSERT and SELECT on them.

create table audit_outbox (
  id bigint generated always as identity primary key,
  event jsonb not null,
  created_at timestamptz not null default clock_timestamp()
);

create table audit_logs (
  -- Position in the chain, from 1; leaf id - 1 of the Merkle tree.
  id bigint primary key check (id > 0),
  event_id uuid not null unique,
  event_type text not null,
  resource_type text not null,
  resource_id text,
  action text not null,
  actor_type text not null check (actor_type in ('user', 'api_key', 'admin_token', 'system', 'anonymous')),
  actor_id text,
  session_id text,
  request_id text,
  ip_address text,
  user_agent text,
  outcome text not null check (outcome in ('success', 'failure')),
  changes jsonb not null,
  old_values jsonb,
  new_values jsonb,
  created_at timestamptz not null,
  sealed_at timestamptz not null,
  -- Hex SHA-256; the first entry's previous_hash is 64 zeros.
  previous_hash text not null,
  content_hash text not null unique
);
create index on audit_logs (created_at);
create index on audit_logs (event_type, created_at);
create index on audit_logs (resource_type, resource_id, created_at);
create index on audit_logs (actor_id, created_at);

create table audit_log_verification (
  -- A checkpoint covers entries 1..tree_size.
  tree_size bigint primary key check (tree_size > 0),
  root_hash text not null,
  -- Roots of the tree's perfect subtrees, largest first (hex): the next batch extends them.
  frontier jsonb not null,
  previous_checkpoint_hash text not null,
  checkpoint_hash text not null unique,
  -- RSA-PSS (SHA-256, salt 32) over the canonical checkpoint body, base64url.
  signature text not null,
  key_id text not null,
  created_at timestamptz not null
);

-- Signing keys of checkpoints: the public key is published; the private key is encrypted by the
-- keyring and never leaves the service.
create table audit_signing_keys (
  key_id text primary key,
  public_key_spki text not null,
  private_key_enc text not null,
  created_at timestamptz not null default now()
);
insert into pga_encrypted_columns (table_name, column_name, key_column)
  values ('audit_signing_keys', 'private_key_enc', 'key_id');

create function audit_append_only() returns trigger language plpgsql as $$
begin
  raise exception 'audit table % is append-only: % rejected', tg_table_name, tg_op
    using errcode = 'P0001', hint = 'audit entries are never changed or removed; see docs/AUDIT_LOGGING.md';
end $$;

create trigger audit_logs_append_only before update or delete on audit_logs
  for each row execute function audit_append_only();
create trigger audit_logs_no_truncate before truncate on audit_logs
  for each statement execute function audit_append_only();
create trigger audit_log_verification_append_only before update or delete on audit_log_verification
  for each row execute function audit_append_only();
create trigger audit_log_verification_no_truncate before truncate on audit_log_verification
  for each statement execute function audit_append_only();

revoke update, delete, truncate on audit_logs, audit_log_verification from current_user;
