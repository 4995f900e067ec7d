-- Monitored PostgreSQL instances (src/instances). The password is encrypted at rest by the
-- keyring (pga:v1 format, bound to this table, column and the row id) and never returned.
create table pga_instances (
  id uuid primary key,
  name text not null unique check (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$'),
  host text not null,
  port integer not null check (port between 1 and 65535),
  database text not null,
  username text not null,
  password_enc text,
  sslmode text not null check (sslmode in ('disable', 'prefer', 'require', 'verify-ca', 'verify-full')),
  ssl_root_cert text,
  tags jsonb not null default '{}',
  enabled boolean not null default true,
  -- What the last probe found (version, views, extensions, privileges) and when.
  capabilities jsonb,
  probed_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

insert into pga_encrypted_columns (table_name, column_name, key_column) values ('pga_instances', 'password_enc', 'id');
