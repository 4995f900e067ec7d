-- Users, sessions, signing keys and API keys (src/auth). Durable facts live here; the hot session
-- records, refresh-token families, the jti blacklist, MFA challenges and rate-limit counters live
-- in the state store (Redis), so any replica can serve any request.

create table auth_users (
  id uuid primary key default gen_random_uuid(),
  -- Stored lower-cased: one account per address whatever the case it is typed in.
  email text not null unique check (email = lower(email)),
  display_name text,
  role text not null check (role in ('admin', 'operator', 'viewer', 'auditor')),
  -- Where the identity comes from; LDAP, SAML and OIDC users have no local password.
  source text not null default 'local' check (source in ('local', 'ldap', 'saml', 'oidc')),
  external_id text,
  -- argon2id PHC string; null: no local password (SSO, or not set yet).
  password_hash text,
  password_changed_at timestamptz,
  -- Raised to end every session and token of the user at once (password change, disable,
  -- "sign out everywhere"); access tokens carry the version they were issued under.
  token_version integer not null default 1,
  disabled_at timestamptz,
  -- TOTP seed encrypted by the keyring (null: MFA not enrolled), and hashed backup codes.
  mfa_secret_enc text,
  mfa_enabled_at timestamptz,
  mfa_backup_codes jsonb not null default '[]',
  last_login_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (source, external_id)
);
insert into pga_encrypted_columns (table_name, column_name, key_column)
  values ('auth_users', 'mfa_secret_enc', 'id');

-- One row per session: the durable index users list and admins end, and the revocation record a
-- refresh checks even when the state store lost its copy.
create table auth_sessions (
  id uuid primary key,
  user_id uuid not null references auth_users (id) on delete cascade,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  last_seen_at timestamptz not null default now(),
  ip_address text,
  user_agent text,
  -- How the user signed in: password, password+totp, password+backup_code, ldap, saml, oidc.
  method text not null,
  revoked_at timestamptz,
  revoked_reason text
);
create index on auth_sessions (user_id, created_at desc);
create index on auth_sessions (expires_at);

-- Access-token signing keys (EdDSA). The private key is encrypted by the keyring; the public key
-- is published in the JWKS until every token it signed has expired.
create table auth_signing_keys (
  kid text primary key,
  algorithm text not null check (algorithm in ('EdDSA', 'ES256')),
  public_jwk jsonb not null,
  private_key_enc text not null,
  created_at timestamptz not null default now(),
  -- No longer signs from this time; stays in the JWKS until retired_at + the access-token lifetime.
  retired_at timestamptz
);
insert into pga_encrypted_columns (table_name, column_name, key_column)
  values ('auth_signing_keys', 'private_key_enc', 'kid');

-- The one-time setup token of a fresh installation (hash only), used at most once.
create table auth_setup (
  id boolean primary key default true check (id),
  token_hash text not null,
  created_at timestamptz not null default now(),
  used_at timestamptz
);
