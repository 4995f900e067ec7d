-- Enterprise sign-in (src/auth/sso): identity providers (LDAP / Active Directory, SAML 2.0,
-- OAuth 2.0 / OpenID Connect) and the link from a user to the provider that vouches for them.
-- Handshakes (OIDC state, nonce and PKCE verifier, SAML request ids, the assertion replay cache,
-- one-time exchange codes) live in the state store, never here.

create table auth_identity_providers (
  id uuid primary key default gen_random_uuid(),
  -- The slug in sign-in URLs (/api/v1/auth/saml/{name}/acs, ...): never changes.
  name text not null unique check (name ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
  type text not null check (type in ('ldap', 'saml', 'oidc')),
  display_name text not null,
  enabled boolean not null default true,
  -- The protocol settings of the type, without secrets (validated by the type's adapter).
  settings jsonb not null,
  -- The type's secrets (LDAP bind password, OIDC client secret, SAML SP private key) as one JSON
  -- object, encrypted by the keyring and bound to this table, column and row; never returned.
  secrets_enc text,
  -- Ordered rules (group, attribute or claim value -> role); the first match wins.
  role_mapping jsonb not null default '[]',
  -- Strict: a user no rule matches cannot sign in. Otherwise they get default_role.
  strict_mapping boolean not null default false,
  default_role text not null default 'viewer' check (default_role in ('admin', 'operator', 'viewer', 'auditor')),
  -- First sign-in creates the user (just-in-time provisioning).
  auto_provision boolean not null default true,
  -- When an account with the same email exists: link only by this explicit rule
  -- ({"byVerifiedEmail": true, "domains": [...]}); otherwise the sign-in is refused.
  linking jsonb not null default '{}',
  -- Accept the provider's word that the user did MFA (amr / AuthnContextClassRef) instead of
  -- asking for this service's own second factor.
  trust_provider_mfa boolean not null default false,
  -- Directory sync (LDAP): {"enabled", "intervalMinutes", "minReturnedPercent"}; its last report.
  sync jsonb not null default '{}',
  last_sync jsonb,
  -- 'file': declared in PGA_IDENTITY_PROVIDERS_FILE (read-only through the API).
  managed_by text not null default 'api' check (managed_by in ('api', 'file')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
insert into pga_encrypted_columns (table_name, column_name, key_column)
  values ('auth_identity_providers', 'secrets_enc', 'id');

-- The provider (by name) that vouches for a user, and the user's stable id there (entryUUID or
-- objectGUID, NameID, sub). Two providers may know different people by the same external id.
alter table auth_users add column identity_provider text;
alter table auth_users drop constraint auth_users_source_external_id_key;
create unique index auth_users_provider_external_id on auth_users (identity_provider, external_id)
  where identity_provider is not null;
