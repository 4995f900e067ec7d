-- API keys for automation and agents (src/auth/api-keys.ts). The key is shown once; only its
-- SHA-256 is stored (the key has 190 random bits, so a fast hash is enough).
create table auth_api_keys (
  id uuid primary key default gen_random_uuid(),
  name text not null,
  -- The first characters, to tell keys apart in lists and find a leaked one.
  display_prefix text not null,
  secret_hash text not null unique,
  role text not null check (role in ('admin', 'operator', 'viewer', 'auditor')),
  -- The user the key acts for (null: created with the break-glass admin token).
  owner_user_id uuid references auth_users (id) on delete cascade,
  expires_at timestamptz,
  last_used_at timestamptz,
  revoked_at timestamptz,
  created_at timestamptz not null default now()
);
create index on auth_api_keys (owner_user_id);
