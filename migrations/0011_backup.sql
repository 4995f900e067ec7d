-- Backup and point-in-time recovery of monitored instances (src/backup). The tables the planning
-- document names (backup_metadata, backup_schedule, restore_operations, backup_execution_log),
-- corrected: statuses in lower case with `cancelled`, logical backups, a chain (parent and full),
-- LSNs and the timeline (what PITR needs), the repository a backup lives in, and no plain
-- "encryption key" anywhere: each backup's data key is wrapped by the master key and stored in
-- its manifest in the repository (so a restore needs only the repository and the master key).

-- Where backups live. The default one comes from PGA_BACKUP_REPOSITORY and is registered at start.
create table backup_repositories (
  id uuid primary key,
  name text not null unique check (name ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
  -- file:///path, s3://bucket/prefix, azure://account/container/prefix, gs://bucket/prefix
  url text not null,
  -- Endpoint, region, path style, ... (never secrets).
  settings jsonb not null default '{}',
  -- Access keys, account keys or connection strings: encrypted by the keyring.
  credentials_enc text,
  is_default boolean not null default false,
  -- Set for the repository declared by the environment: managed there, not through the API.
  from_environment boolean not null default false,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create unique index backup_repositories_one_default on backup_repositories (is_default) where is_default;
insert into pga_encrypted_columns (table_name, column_name, key_column)
  values ('backup_repositories', 'credentials_enc', 'id');

-- Replication credentials of a monitored instance (pg_basebackup, pg_receivewal), stored like its
-- monitoring password; absent: the monitoring login is used (it then needs REPLICATION).
alter table pga_instances add column replication_username text;
alter table pga_instances add column replication_password_enc text;
-- Continuous WAL streaming after the first full backup (default on).
alter table pga_instances add column wal_streaming boolean not null default true;
insert into pga_encrypted_columns (table_name, column_name, key_column)
  values ('pga_instances', 'replication_password_enc', 'id');

create table backup_metadata (
  id uuid primary key,
  -- Null once the instance is deleted: its backups stay restorable (and subject to retention).
  instance_id uuid references pga_instances (id) on delete set null,
  instance_name text not null,
  repository_id uuid not null references backup_repositories (id) on delete restrict,
  backup_type text not null check (backup_type in ('full', 'incremental', 'differential', 'logical')),
  status text not null check (status in ('pending', 'running', 'completed', 'failed', 'cancelled')),
  -- Incremental: the previous backup of the chain; differential: the full; full/logical: null.
  parent_backup_id uuid references backup_metadata (id) on delete restrict,
  -- The full backup that starts this backup's chain (itself for a full).
  chain_id uuid,
  -- Logical backups: the database dumped.
  database_name text,
  compression text not null check (compression in ('none', 'gzip', 'zstd', 'lz4')),
  compression_level integer,
  encryption_algorithm text not null default 'AES-256-GCM',
  pg_version integer,
  system_identifier text,
  timeline integer,
  start_lsn pg_lsn,
  end_lsn pg_lsn,
  -- The database's consistent time (backup end) and when the run started and finished.
  consistent_at timestamptz,
  started_at timestamptz,
  finished_at timestamptz,
  -- Bytes read from the server, stored (new chunks, compressed and encrypted), files and chunks.
  source_size_bytes bigint,
  stored_size_bytes bigint,
  file_count integer,
  chunk_count integer,
  new_chunk_count integer,
  -- SHA-256 of the manifest object: what verify and restore check first.
  manifest_sha256 text,
  verified_at timestamptz,
  verify_result jsonb,
  progress jsonb,
  error text,
  -- The replica running it (a lease), and a cancel request for it.
  runner text,
  cancel_requested boolean not null default false,
  requested_by text,
  schedule_id uuid,
  -- Set when retention (or an operator) removed the backup's objects; the record stays as history.
  deleted_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index on backup_metadata (instance_id, created_at desc);
create index on backup_metadata (status) where status in ('pending', 'running');
create index on backup_metadata (chain_id);

create table backup_schedule (
  id uuid primary key,
  name text not null unique,
  instance_id uuid not null references pga_instances (id) on delete cascade,
  repository_id uuid references backup_repositories (id) on delete restrict,
  backup_type text not null check (backup_type in ('full', 'incremental', 'differential', 'logical')),
  -- Logical schedules: which database.
  database_name text,
  cron_expression text not null,
  time_zone text not null default 'UTC',
  compression text check (compression in ('none', 'gzip', 'zstd', 'lz4')),
  enabled boolean not null default true,
  -- What a missed run (no replica was up) does at the next start: run once, or skip.
  missed_run_policy text not null default 'run_once' check (missed_run_policy in ('run_once', 'skip')),
  -- Retention applied after each successful run: full chains and/or days (null: no limit).
  retention_full_count integer check (retention_full_count >= 1),
  retention_days integer check (retention_days >= 1),
  next_run_at timestamptz,
  last_run_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table restore_operations (
  id uuid primary key,
  backup_id uuid not null references backup_metadata (id) on delete restrict,
  mode text not null check (mode in ('directory', 'verify', 'database')),
  status text not null check (status in ('pending', 'running', 'completed', 'failed', 'cancelled')),
  -- latest, or one of time / lsn / xid / name.
  target jsonb not null,
  target_directory text,
  target_database text,
  achieved_target jsonb,
  -- From the request to the restored server consistent and open (verify mode) or the directory
  -- written (directory mode).
  rto_ms bigint,
  wal_segments integer,
  wal_bytes bigint,
  restored_size_bytes bigint,
  checks jsonb,
  error text,
  runner text,
  requested_by text,
  started_at timestamptz,
  finished_at timestamptz,
  created_at timestamptz not null default now()
);
create index on restore_operations (backup_id);

create table backup_execution_log (
  id bigserial primary key,
  schedule_id uuid references backup_schedule (id) on delete cascade,
  backup_id uuid references backup_metadata (id) on delete cascade,
  step text not null,
  status text not null check (status in ('started', 'completed', 'failed', 'skipped')),
  message text,
  duration_ms bigint,
  bytes_processed bigint,
  created_at timestamptz not null default now()
);
create index on backup_execution_log (schedule_id, created_at desc);

-- Continuous WAL of an instance: the slot, how far it is safely in the repository.
create table backup_wal_streams (
  instance_id uuid primary key references pga_instances (id) on delete cascade,
  repository_id uuid not null references backup_repositories (id) on delete restrict,
  slot_name text not null,
  timeline integer,
  -- The last WAL position stored in the repository (a complete or a partial segment).
  stored_lsn pg_lsn,
  stored_at timestamptz,
  -- The first segment stored: the earliest start of any restore window.
  first_segment text,
  last_error text,
  updated_at timestamptz not null default now()
);
