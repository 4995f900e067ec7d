-- Keyring for encryption at rest (src/keys). Data-encryption keys (DEKs) are stored wrapped by
-- the key-encryption key (KEK, the master key), never in the clear.
create table pga_data_keys (
  version integer primary key check (version > 0),
  state text not null check (state in ('active', 'decrypt_only', 'retired')),
  wrapped_key bytea not null,
  -- Fingerprint of the KEK that wrapped this key: a wrong master key is named, not guessed.
  kek_id text not null,
  -- Encryptions reserved under this key (in blocks, so never under-counted): GCM with random
  -- nonces must stay well below 2^32 encryptions per key (NIST SP 800-38D).
  encryptions bigint not null default 0,
  created_at timestamptz not null default now(),
  state_changed_at timestamptz not null default now()
);

-- At most one active key, whatever replicas race to rotate.
create unique index pga_data_keys_single_active on pga_data_keys (state) where state = 'active';

-- Every encrypted column, declared by the migration that creates it, so key rotation finds all
-- values to re-encrypt. key_column holds the row key bound into each value's associated data.
create table pga_encrypted_columns (
  table_name text not null,
  column_name text not null,
  key_column text not null,
  primary key (table_name, column_name),
  check (table_name ~ '^[a-z_][a-z0-9_]{0,62}$' and column_name ~ '^[a-z_][a-z0-9_]{0,62}$' and key_column ~ '^[a-z_][a-z0-9_]{0,62}$')
);

-- Progress of re-encrypting values under older keys with the active one (resumable).
create table pga_key_rewrap_runs (
  id bigserial primary key,
  target_version integer not null references pga_data_keys (version),
  state text not null check (state in ('running', 'done')),
  total bigint not null default 0,
  done bigint not null default 0,
  started_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  finished_at timestamptz
);
create unique index pga_key_rewrap_runs_one_running on pga_key_rewrap_runs (state) where state = 'running';
