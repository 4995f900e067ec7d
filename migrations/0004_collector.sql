-- Monitoring core (src/collector, src/metrics). Collection settings of instances; one
-- sn_stat_snapshot row per collection of a group; one table per metric group holding the rows
-- that collection returned, raw (counters are never differenced on write). Every sn_* table is
-- partitioned by day on taken_at; src/collector/partitions.ts creates partitions ahead and drops
-- whole partitions past each group's retention. Columns mirror src/collector/catalog (a test
-- compares them). snap_id comes from the insert's RETURNING, never from currval.

alter table pga_instances
  -- Seconds between collections per group, overriding the catalog default; 0 turns a group off.
  add column intervals jsonb not null default '{}',
  -- Glob patterns (* and ?) over database names for the per-database groups.
  add column include_databases text[] not null default '{*}',
  add column exclude_databases text[] not null default '{}',
  add column collect_query_text boolean not null default true,
  -- The service's own store, registered by the service (self-monitoring); collected through
  -- the store's pool instead of stored credentials.
  add column is_self boolean not null default false;
create unique index pga_instances_one_self on pga_instances (is_self) where is_self;

create sequence sn_stat_snapshot_id_seq;

create table sn_stat_snapshot (
  snap_id bigint not null default nextval('sn_stat_snapshot_id_seq'),
  instance_id uuid not null,
  group_name text not null,
  -- Set for per-database groups (tables, indexes).
  datname text,
  taken_at timestamptz not null,
  duration_ms double precision not null,
  status text not null check (status in ('ok', 'failed', 'unavailable')),
  error_code text,
  error text,
  row_count integer not null default 0,
  -- Which SQL variant ran (its source description) and which replica ran it.
  variant text,
  replica text not null
) partition by range (taken_at);
create index on sn_stat_snapshot (instance_id, group_name, taken_at);

-- Query texts of pg_stat_statements, stored once per instance and queryid.
create table sn_statement_texts (
  instance_id uuid not null references pga_instances (id) on delete cascade,
  queryid bigint not null,
  query text not null,
  first_seen timestamptz not null default now(),
  -- Refreshed at most daily while the statement is collected; texts unseen for the statements
  -- retention are deleted with the expired partitions.
  last_seen timestamptz not null default now(),
  primary key (instance_id, queryid)
);

-- The settings as last seen, to store only changes in sn_settings_changes.
create table pga_instance_settings (
  instance_id uuid not null references pga_instances (id) on delete cascade,
  name text not null,
  setting text,
  unit text,
  source text,
  pending_restart boolean,
  changed_at timestamptz not null,
  primary key (instance_id, name)
);

-- database: Each database: transactions, block I/O, tuples, temp files, deadlocks, sessions, recovery conflicts, size and wraparound age.
create table sn_stat_database (
  snap_id bigint not null,
  instance_id uuid not null,
  taken_at timestamptz not null,
  datname text,
  numbackends integer,
  xact_commit bigint,
  xact_rollback bigint,
  blks_read bigint,
  blks_hit bigint,
  tup_returned bigint,
  tup_fetched bigint,
  tup_inserted bigint,
  tup_updated bigint,
  tup_deleted bigint,
  conflicts bigint,
  temp_files bigint,
  deadlocks bigint,
  temp_bytes bigint,
  blk_read_time double precision,
  blk_write_time double precision,
  sessions bigint,
  sessions_abandoned bigint,
  sessions_fatal bigint,
  sessions_killed bigint,
  session_time double precision,
  active_time double precision,
  idle_in_transaction_time double precision,
  confl_tablespace bigint,
  confl_lock bigint,
  confl_snapshot bigint,
  confl_bufferpin bigint,
  confl_deadlock bigint,
  size_bytes bigint,
  xid_age integer,
  mxid_age integer,
  stats_reset timestamptz
) partition by range (taken_at);
create index on sn_stat_database (instance_id, taken_at);

-- tables: User tables of each database: scans, tuple changes, live and dead tuples, vacuum and analyze, block I/O and sizes (largest first).
create table sn_stat_tables (
  snap_id bigint not null,
  instance_id uuid not null,
  taken_at timestamptz not null,
  datname text,
  schemaname text,
  relname text,
  seq_scan bigint,
  seq_tup_read bigint,
  idx_scan bigint,
  idx_tup_fetch bigint,
  n_tup_ins bigint,
  n_tup_upd bigint,
  n_tup_del bigint,
  n_tup_hot_upd bigint,
  vacuum_count bigint,
  autovacuum_count bigint,
  analyze_count bigint,
  autoanalyze_count bigint,
  n_live_tup bigint,
  n_dead_tup bigint,
  n_mod_since_analyze bigint,
  n_ins_since_vacuum bigint,
  last_vacuum timestamptz,
  last_autovacuum timestamptz,
  last_analyze timestamptz,
  last_autoanalyze timestamptz,
  heap_blks_read bigint,
  heap_blks_hit bigint,
  idx_blks_read bigint,
  idx_blks_hit bigint,
  toast_blks_read bigint,
  toast_blks_hit bigint,
  total_bytes bigint,
  table_bytes bigint,
  indexes_bytes bigint,
  toast_bytes bigint,
  frozenxid_age integer
) partition by range (taken_at);
create index on sn_stat_tables (instance_id, taken_at);

-- indexes: User indexes of each database: scans, tuples, block I/O, size, and an unused flag (largest first).
create table sn_stat_indexes (
  snap_id bigint not null,
  instance_id uuid not null,
  taken_at timestamptz not null,
  datname text,
  schemaname text,
  relname text,
  indexrelname text,
  idx_scan bigint,
  idx_tup_read bigint,
  idx_tup_fetch bigint,
  idx_blks_read bigint,
  idx_blks_hit bigint,
  size_bytes bigint,
  is_unique boolean,
  is_primary boolean,
  unused boolean,
  last_idx_scan timestamptz
) partition by range (taken_at);
create index on sn_stat_indexes (instance_id, taken_at);

-- statements: pg_stat_statements: the top statements by total execution time (per-instance cap), with calls, rows, block I/O, I/O time and WAL.
create table sn_stat_statements (
  snap_id bigint not null,
  instance_id uuid not null,
  taken_at timestamptz not null,
  queryid bigint,
  usename text,
  datname text,
  toplevel boolean,
  calls bigint,
  total_exec_time double precision,
  total_plan_time double precision,
  plans bigint,
  rows bigint,
  shared_blks_hit bigint,
  shared_blks_read bigint,
  shared_blks_dirtied bigint,
  shared_blks_written bigint,
  local_blks_hit bigint,
  local_blks_read bigint,
  local_blks_written bigint,
  temp_blks_read bigint,
  temp_blks_written bigint,
  blk_read_time double precision,
  blk_write_time double precision,
  wal_records bigint,
  wal_fpi bigint,
  wal_bytes bigint,
  stats_reset timestamptz
) partition by range (taken_at);
create index on sn_stat_statements (instance_id, taken_at);

-- settings: Server settings (pg_settings). The first snapshot stores all of them; later ones store only the settings that changed, with their previous value.
create table sn_settings_changes (
  snap_id bigint not null,
  instance_id uuid not null,
  taken_at timestamptz not null,
  name text,
  setting text,
  previous_setting text,
  unit text,
  source text,
  pending_restart boolean
) partition by range (taken_at);
create index on sn_settings_changes (instance_id, taken_at);

-- bgwriter: Background writer: buffers it cleaned, how often it stopped for writing too many, buffers allocated.
create table sn_stat_bgwriter (
  snap_id bigint not null,
  instance_id uuid not null,
  taken_at timestamptz not null,
  buffers_clean bigint,
  maxwritten_clean bigint,
  buffers_alloc bigint,
  buffers_backend bigint,
  buffers_backend_fsync bigint,
  stats_reset timestamptz
) partition by range (taken_at);
create index on sn_stat_bgwriter (instance_id, taken_at);

-- checkpointer: Checkpoints and restartpoints: how many, why, how long writing and syncing took, buffers written.
create table sn_stat_checkpointer (
  snap_id bigint not null,
  instance_id uuid not null,
  taken_at timestamptz not null,
  num_timed bigint,
  num_requested bigint,
  num_done bigint,
  restartpoints_timed bigint,
  restartpoints_req bigint,
  restartpoints_done bigint,
  write_time double precision,
  sync_time double precision,
  buffers_written bigint,
  stats_reset timestamptz
) partition by range (taken_at);
create index on sn_stat_checkpointer (instance_id, taken_at);

-- archiver: WAL archiving: segments archived and failed (rates on the read side), the last of each.
create table sn_stat_archiver (
  snap_id bigint not null,
  instance_id uuid not null,
  taken_at timestamptz not null,
  archive_mode text,
  archived_count bigint,
  last_archived_wal text,
  last_archived_time timestamptz,
  failed_count bigint,
  last_failed_wal text,
  last_failed_time timestamptz,
  stats_reset timestamptz
) partition by range (taken_at);
create index on sn_stat_archiver (instance_id, taken_at);

-- replication: Primary side of streaming replication: one row per standby with lag in bytes and time.
create table sn_stat_replication (
  snap_id bigint not null,
  instance_id uuid not null,
  taken_at timestamptz not null,
  application_name text,
  client_addr inet,
  pid integer,
  usename text,
  state text,
  sync_state text,
  sync_priority integer,
  backend_start timestamptz,
  sent_lsn pg_lsn,
  write_lsn pg_lsn,
  flush_lsn pg_lsn,
  replay_lsn pg_lsn,
  sent_lag_bytes bigint,
  write_lag_bytes bigint,
  flush_lag_bytes bigint,
  replay_lag_bytes bigint,
  write_lag_seconds double precision,
  flush_lag_seconds double precision,
  replay_lag_seconds double precision
) partition by range (taken_at);
create index on sn_stat_replication (instance_id, taken_at);

-- wal_receiver: Standby side of streaming replication: the WAL receiver, what it received and replayed, replay delay.
create table sn_stat_wal_receiver (
  snap_id bigint not null,
  instance_id uuid not null,
  taken_at timestamptz not null,
  status text,
  sender_host text,
  sender_port integer,
  slot_name text,
  received_tli integer,
  flushed_lsn pg_lsn,
  replay_lsn pg_lsn,
  replay_lag_bytes bigint,
  replay_delay_seconds double precision,
  last_msg_receipt_time timestamptz,
  latest_end_time timestamptz
) partition by range (taken_at);
create index on sn_stat_wal_receiver (instance_id, taken_at);

-- replication_slots: Replication slots: active or not, WAL they retain, wal_status, xmin they hold back.
create table sn_replication_slots (
  snap_id bigint not null,
  instance_id uuid not null,
  taken_at timestamptz not null,
  slot_name text,
  slot_type text,
  plugin text,
  datname text,
  temporary boolean,
  active boolean,
  active_pid integer,
  wal_status text,
  safe_wal_size bigint,
  retained_bytes bigint,
  xmin_age integer,
  catalog_xmin_age integer,
  conflicting boolean
) partition by range (taken_at);
create index on sn_replication_slots (instance_id, taken_at);

-- wal: WAL generation: records, full-page images, bytes, buffer-full waits, writes and syncs.
create table sn_stat_wal (
  snap_id bigint not null,
  instance_id uuid not null,
  taken_at timestamptz not null,
  lsn_bytes bigint,
  wal_records bigint,
  wal_fpi bigint,
  wal_bytes bigint,
  wal_buffers_full bigint,
  wal_write bigint,
  wal_sync bigint,
  wal_write_time double precision,
  wal_sync_time double precision,
  stats_reset timestamptz
) partition by range (taken_at);
create index on sn_stat_wal (instance_id, taken_at);

-- io: I/O by backend type, object and context: operations, bytes and times (PostgreSQL 16+).
create table sn_stat_io (
  snap_id bigint not null,
  instance_id uuid not null,
  taken_at timestamptz not null,
  backend_type text,
  object text,
  context text,
  reads bigint,
  writes bigint,
  writebacks bigint,
  extends bigint,
  hits bigint,
  evictions bigint,
  reuses bigint,
  fsyncs bigint,
  read_bytes bigint,
  write_bytes bigint,
  extend_bytes bigint,
  read_time double precision,
  write_time double precision,
  writeback_time double precision,
  extend_time double precision,
  fsync_time double precision,
  stats_reset timestamptz
) partition by range (taken_at);
create index on sn_stat_io (instance_id, taken_at);

-- activity: Backends grouped by database, user, type, state and wait event, with their oldest transaction, query and state ages.
create table sn_stat_activity (
  snap_id bigint not null,
  instance_id uuid not null,
  taken_at timestamptz not null,
  datname text,
  usename text,
  backend_type text,
  state text,
  wait_event_type text,
  wait_event text,
  sessions integer,
  max_xact_age_seconds double precision,
  max_query_age_seconds double precision,
  max_state_age_seconds double precision
) partition by range (taken_at);
create index on sn_stat_activity (instance_id, taken_at);

-- locks: Blocking chains: every session waiting on a lock, and every session blocking one, with whom it waits for.
create table sn_lock_waits (
  snap_id bigint not null,
  instance_id uuid not null,
  taken_at timestamptz not null,
  pid integer,
  datname text,
  usename text,
  application_name text,
  state text,
  wait_event_type text,
  wait_event text,
  blocking_pids integer[],
  blocked_sessions integer,
  lock_type text,
  lock_mode text,
  relation text,
  wait_seconds double precision,
  xact_age_seconds double precision,
  query text
) partition by range (taken_at);
create index on sn_lock_waits (instance_id, taken_at);

-- vacuum_progress: Vacuums running now (manual and autovacuum): phase, heap blocks scanned and vacuumed, index passes, run time.
create table sn_vacuum_progress (
  snap_id bigint not null,
  instance_id uuid not null,
  taken_at timestamptz not null,
  pid integer,
  datname text,
  relation text,
  autovacuum boolean,
  phase text,
  heap_blks_total bigint,
  heap_blks_scanned bigint,
  heap_blks_vacuumed bigint,
  index_vacuum_count bigint,
  running_seconds double precision
) partition by range (taken_at);
create index on sn_vacuum_progress (instance_id, taken_at);

-- storage: Disk used by each tablespace and by the WAL directory (size and segment count).
create table sn_storage (
  snap_id bigint not null,
  instance_id uuid not null,
  taken_at timestamptz not null,
  kind text,
  name text,
  location text,
  size_bytes bigint,
  files bigint
) partition by range (taken_at);
create index on sn_storage (instance_id, taken_at);

