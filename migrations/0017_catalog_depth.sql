-- Monitoring depth (issue 15): the groups that answer who holds the xmin horizon back, which
-- tables near forced anti-wraparound vacuum, which sequences near their maximum, which indexes
-- are invalid, duplicate or unused, what maintenance is running, logical replication, SLRU
-- caches, recovery prefetch, the checkpoint in pg_control and user functions; and the columns
-- PostgreSQL 12-18
-- added to views already read. Columns mirror src/collector/catalog (a test compares them); new
-- columns of existing groups go at the end, in catalog order.

-- xmin_horizon: Who holds the xmin horizon back: backends with a snapshot or transaction id, standbys (hot_standby_feedback), replication slots and prepared transactions, oldest first.
create table sn_xmin_horizon (
  snap_id bigint not null,
  instance_id uuid not null,
  taken_at timestamptz not null,
  holder_type text,
  holder text,
  datname text,
  usename text,
  application_name text,
  backend_type text,
  state text,
  held_xmin text,
  xmin_age integer,
  catalog_xmin_age integer,
  held_xid text,
  xid_age integer,
  horizon_age integer,
  xact_age_seconds double precision
) partition by range (taken_at);
create index on sn_xmin_horizon (instance_id, taken_at);

-- table_ages: Tables of each database closest to forced anti-wraparound vacuum: age of relfrozenxid and relminmxid against the freeze thresholds (oldest first).
create table sn_table_ages (
  snap_id bigint not null,
  instance_id uuid not null,
  taken_at timestamptz not null,
  datname text,
  schemaname text,
  relname text,
  relkind text,
  toast_of text,
  temporary boolean,
  frozenxid_age integer,
  minmxid_age integer,
  freeze_max_age bigint,
  multixact_freeze_max_age bigint,
  pages bigint
) partition by range (taken_at);
create index on sn_table_ages (instance_id, taken_at);

-- sequences: Sequences of each database and how much of their range is used, limited by the type of the column that owns them (serial, identity): the closest to exhaustion first.
create table sn_sequences (
  snap_id bigint not null,
  instance_id uuid not null,
  taken_at timestamptz not null,
  datname text,
  schemaname text,
  sequence_name text,
  data_type text,
  owned_by text,
  column_type text,
  cycle boolean,
  last_value bigint,
  increment_by bigint,
  limit_value bigint,
  remaining bigint,
  used_fraction double precision
) partition by range (taken_at);
create index on sn_sequences (instance_id, taken_at);

-- checkpoint_state: The last checkpoint or restartpoint from pg_control: when, its redo position and the WAL written since (what crash recovery would replay), the oldest xid it recorded; on a standby, whether replay is paused.
create table sn_checkpoint_state (
  snap_id bigint not null,
  instance_id uuid not null,
  taken_at timestamptz not null,
  checkpoint_lsn pg_lsn,
  redo_lsn pg_lsn,
  redo_wal_file text,
  timeline_id integer,
  full_page_writes boolean,
  checkpoint_time timestamptz,
  checkpoint_age_seconds double precision,
  wal_since_redo_bytes bigint,
  oldest_xid_age integer,
  in_recovery boolean,
  replay_pause_state text
) partition by range (taken_at);
create index on sn_checkpoint_state (instance_id, taken_at);

-- slru: SLRU caches (commit timestamps, multixacts, subtransactions, transaction status, ...): pages hit, read, written, flushes and truncations (PostgreSQL 13+).
create table sn_stat_slru (
  snap_id bigint not null,
  instance_id uuid not null,
  taken_at timestamptz not null,
  name text,
  blks_zeroed bigint,
  blks_hit bigint,
  blks_read bigint,
  blks_written bigint,
  blks_exists bigint,
  flushes bigint,
  truncates bigint,
  stats_reset timestamptz
) partition by range (taken_at);
create index on sn_stat_slru (instance_id, taken_at);

-- recovery_prefetch: Blocks prefetched while replaying WAL (recovery_prefetch, PostgreSQL 15+): prefetched, already cached, skipped, and how far ahead it looks.
create table sn_stat_recovery_prefetch (
  snap_id bigint not null,
  instance_id uuid not null,
  taken_at timestamptz not null,
  prefetch bigint,
  hit bigint,
  skip_init bigint,
  skip_new bigint,
  skip_fpw bigint,
  skip_rep bigint,
  wal_distance integer,
  block_distance integer,
  io_depth integer,
  stats_reset timestamptz
) partition by range (taken_at);
create index on sn_stat_recovery_prefetch (instance_id, taken_at);

-- subscriptions: Logical replication subscriptions on this server: apply worker, WAL position received and confirmed, time since the last message from the publisher, table sync workers, apply and sync errors.
create table sn_stat_subscription (
  snap_id bigint not null,
  instance_id uuid not null,
  taken_at timestamptz not null,
  subname text,
  datname text,
  enabled boolean,
  pid integer,
  received_lsn pg_lsn,
  latest_end_lsn pg_lsn,
  last_msg_send_time timestamptz,
  last_msg_receipt_time timestamptz,
  latest_end_time timestamptz,
  receipt_age_seconds double precision,
  sync_workers integer,
  apply_error_count bigint,
  sync_error_count bigint,
  stats_reset timestamptz
) partition by range (taken_at);
create index on sn_stat_subscription (instance_id, taken_at);

-- subscription_tables: Tables of each subscription by synchronization state (init, data copy, finished copy, synchronized, ready), in the database the subscription replicates into.
create table sn_subscription_tables (
  snap_id bigint not null,
  instance_id uuid not null,
  taken_at timestamptz not null,
  datname text,
  subname text,
  state text,
  tables integer
) partition by range (taken_at);
create index on sn_subscription_tables (instance_id, taken_at);

-- replication_slot_stats: Logical decoding per slot (PostgreSQL 14+): transactions and bytes spilled to disk or streamed because they outgrew logical_decoding_work_mem, and everything decoded.
create table sn_stat_replication_slots (
  snap_id bigint not null,
  instance_id uuid not null,
  taken_at timestamptz not null,
  slot_name text,
  spill_txns bigint,
  spill_count bigint,
  spill_bytes bigint,
  stream_txns bigint,
  stream_count bigint,
  stream_bytes bigint,
  total_txns bigint,
  total_bytes bigint,
  stats_reset timestamptz
) partition by range (taken_at);
create index on sn_stat_replication_slots (instance_id, taken_at);

-- index_hygiene: Indexes of each database that are invalid, duplicate another index, or were never scanned since the statistics reset and enforce no constraint, with their size (largest first).
create table sn_index_hygiene (
  snap_id bigint not null,
  instance_id uuid not null,
  taken_at timestamptz not null,
  datname text,
  schemaname text,
  relname text,
  indexrelname text,
  problem text,
  duplicate_of text,
  size_bytes bigint,
  idx_scan bigint,
  stats_age_seconds double precision
) partition by range (taken_at);
create index on sn_index_hygiene (instance_id, taken_at);

-- maintenance_progress: Maintenance running now besides vacuum: CREATE INDEX and REINDEX, CLUSTER and VACUUM FULL, ANALYZE, base backups, COPY (PostgreSQL 13+; COPY from 14): phase and how far along.
create table sn_maintenance_progress (
  snap_id bigint not null,
  instance_id uuid not null,
  taken_at timestamptz not null,
  pid integer,
  command text,
  datname text,
  relation text,
  phase text,
  blocks_total bigint,
  blocks_done bigint,
  tuples_total bigint,
  tuples_done bigint,
  bytes_total bigint,
  bytes_done bigint,
  running_seconds double precision
) partition by range (taken_at);
create index on sn_maintenance_progress (instance_id, taken_at);

-- functions: User functions of each database (needs track_functions = pl or all): calls, total time and time in the function itself (busiest first).
create table sn_stat_user_functions (
  snap_id bigint not null,
  instance_id uuid not null,
  taken_at timestamptz not null,
  datname text,
  schemaname text,
  funcname text,
  calls bigint,
  total_time double precision,
  self_time double precision
) partition by range (taken_at);
create index on sn_stat_user_functions (instance_id, taken_at);

alter table sn_stat_database
  add column checksum_failures bigint,
  add column checksum_last_failure timestamptz,
  add column confl_active_logicalslot bigint,
  add column parallel_workers_to_launch bigint,
  add column parallel_workers_launched bigint;

alter table sn_stat_tables
  add column last_seq_scan timestamptz,
  add column last_idx_scan timestamptz,
  add column n_tup_newpage_upd bigint,
  add column total_vacuum_time double precision,
  add column total_autovacuum_time double precision,
  add column total_analyze_time double precision,
  add column total_autoanalyze_time double precision;

alter table sn_stat_checkpointer
  add column slru_written bigint;

alter table sn_stat_replication
  add column reply_time timestamptz;

alter table sn_replication_slots
  add column inactive_since timestamptz,
  add column invalidation_reason text,
  add column failover boolean,
  add column synced boolean;

alter table sn_vacuum_progress
  add column max_dead_tuples bigint,
  add column num_dead_item_ids bigint,
  add column max_dead_tuple_bytes bigint,
  add column dead_tuple_bytes bigint,
  add column indexes_total bigint,
  add column indexes_processed bigint,
  add column delay_time double precision;

