-- Row types of the snapshot tables (issue 17): the collector fetches a snapshot's rows as one
-- array of composite values in the catalog's column order (`array_agg(row(...))::text` on the
-- monitored server) and the store reads them with `unnest($rows::text::<table>_row[])`. Five
-- times smaller than JSON objects repeating every column name in every row, and about three
-- times cheaper to read than json_populate_recordset. Attributes mirror src/collector/catalog
-- (a test compares them): a new catalog column adds an attribute here, in a new migration.

create type sn_stat_database_row as (
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
  xid_age integer,
  mxid_age integer,
  stats_reset timestamptz,
  checksum_failures bigint,
  checksum_last_failure timestamptz,
  confl_active_logicalslot bigint,
  parallel_workers_to_launch bigint,
  parallel_workers_launched bigint
);
create type sn_database_size_row as (
  datname text,
  bytes bigint
);
create type sn_stat_tables_row as (
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
  frozenxid_age integer,
  sizes_skipped boolean,
  last_seq_scan timestamptz,
  last_idx_scan timestamptz,
  n_tup_newpage_upd bigint,
  total_vacuum_time double precision,
  total_autovacuum_time double precision,
  total_analyze_time double precision,
  total_autoanalyze_time double precision
);
create type sn_stat_indexes_row as (
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
  last_idx_scan timestamptz,
  sizes_skipped boolean
);
create type sn_stat_statements_row as (
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
  stats_reset timestamptz,
  min_exec_time double precision,
  max_exec_time double precision,
  mean_exec_time double precision,
  stddev_exec_time double precision,
  min_plan_time double precision,
  max_plan_time double precision,
  mean_plan_time double precision,
  stddev_plan_time double precision,
  temp_blk_read_time double precision,
  temp_blk_write_time double precision,
  jit_functions bigint,
  jit_generation_time double precision,
  jit_inlining_count bigint,
  jit_inlining_time double precision,
  jit_optimization_count bigint,
  jit_optimization_time double precision,
  jit_emission_count bigint,
  jit_emission_time double precision,
  jit_deform_count bigint,
  jit_deform_time double precision,
  stats_since timestamptz,
  minmax_stats_since timestamptz,
  wal_buffers_full bigint,
  parallel_workers_to_launch bigint,
  parallel_workers_launched bigint
);
create type sn_statements_info_row as (
  entries bigint,
  max_entries integer,
  dealloc bigint,
  stats_reset timestamptz
);
create type sn_settings_changes_row as (
  name text,
  setting text,
  previous_setting text,
  unit text,
  source text,
  pending_restart boolean
);
create type sn_stat_bgwriter_row as (
  buffers_clean bigint,
  maxwritten_clean bigint,
  buffers_alloc bigint,
  buffers_backend bigint,
  buffers_backend_fsync bigint,
  stats_reset timestamptz
);
create type sn_stat_checkpointer_row as (
  num_timed bigint,
  num_requested bigint,
  num_done bigint,
  restartpoints_timed bigint,
  restartpoints_req bigint,
  restartpoints_done bigint,
  write_time double precision,
  sync_time double precision,
  buffers_written bigint,
  stats_reset timestamptz,
  slru_written bigint
);
create type sn_stat_archiver_row as (
  archive_mode text,
  archived_count bigint,
  last_archived_wal text,
  last_archived_time timestamptz,
  failed_count bigint,
  last_failed_wal text,
  last_failed_time timestamptz,
  stats_reset timestamptz,
  ready_files bigint
);
create type sn_stat_replication_row as (
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
  replay_lag_seconds double precision,
  reply_time timestamptz
);
create type sn_stat_wal_receiver_row as (
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
);
create type sn_replication_slots_row as (
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
  conflicting boolean,
  inactive_since timestamptz,
  invalidation_reason text,
  failover boolean,
  synced boolean
);
create type sn_stat_wal_row as (
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
);
create type sn_stat_io_row as (
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
);
create type sn_stat_activity_row as (
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
);
create type sn_lock_waits_row as (
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
);
create type sn_vacuum_progress_row as (
  pid integer,
  datname text,
  relation text,
  autovacuum boolean,
  phase text,
  heap_blks_total bigint,
  heap_blks_scanned bigint,
  heap_blks_vacuumed bigint,
  index_vacuum_count bigint,
  running_seconds double precision,
  max_dead_tuples bigint,
  num_dead_item_ids bigint,
  max_dead_tuple_bytes bigint,
  dead_tuple_bytes bigint,
  indexes_total bigint,
  indexes_processed bigint,
  delay_time double precision
);
create type sn_storage_row as (
  kind text,
  name text,
  location text,
  size_bytes bigint,
  files bigint
);
create type sn_xmin_horizon_row as (
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
);
create type sn_table_ages_row as (
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
);
create type sn_sequences_row as (
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
);
create type sn_checkpoint_state_row as (
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
);
create type sn_stat_slru_row as (
  name text,
  blks_zeroed bigint,
  blks_hit bigint,
  blks_read bigint,
  blks_written bigint,
  blks_exists bigint,
  flushes bigint,
  truncates bigint,
  stats_reset timestamptz
);
create type sn_stat_recovery_prefetch_row as (
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
);
create type sn_stat_subscription_row as (
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
);
create type sn_subscription_tables_row as (
  datname text,
  subname text,
  state text,
  tables integer
);
create type sn_stat_replication_slots_row as (
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
);
create type sn_index_hygiene_row as (
  datname text,
  schemaname text,
  relname text,
  indexrelname text,
  problem text,
  duplicate_of text,
  size_bytes bigint,
  idx_scan bigint,
  stats_age_seconds double precision
);
create type sn_maintenance_progress_row as (
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
);
create type sn_stat_user_functions_row as (
  datname text,
  schemaname text,
  funcname text,
  calls bigint,
  total_time double precision,
  self_time double precision
);
create type sn_session_samples_row as (
  datname text,
  backend_type text,
  state text,
  wait_event_type text,
  wait_event text,
  query_id bigint,
  samples bigint,
  samples_taken integer,
  avg_sessions double precision,
  wait_event_description text,
  sampler text
);
create type sn_table_bloat_row as (
  datname text,
  schemaname text,
  relname text,
  estimated boolean,
  fillfactor integer,
  size_bytes bigint,
  expected_bytes bigint,
  bloat_bytes bigint,
  bloat_fraction double precision
);
create type sn_index_bloat_row as (
  datname text,
  schemaname text,
  relname text,
  indexrelname text,
  estimated boolean,
  fillfactor integer,
  size_bytes bigint,
  expected_bytes bigint,
  bloat_bytes bigint,
  bloat_fraction double precision
);
create type sn_bloat_approx_row as (
  datname text,
  schemaname text,
  relname text,
  skipped boolean,
  size_bytes bigint,
  scanned_percent double precision,
  live_tuples bigint,
  live_bytes bigint,
  dead_tuples bigint,
  dead_bytes bigint,
  free_bytes bigint,
  reclaimable_fraction double precision
);
create type sn_buffer_pool_row as (
  pool_buffers bigint,
  buffers_used bigint,
  buffers_unused bigint,
  buffers_dirty bigint,
  buffers_pinned bigint,
  usagecount_avg double precision
);
create type sn_buffer_usage_row as (
  datname text,
  relation text,
  buffers bigint,
  bytes bigint,
  dirty_buffers bigint,
  usagecount_avg double precision,
  pool_fraction double precision,
  relation_fraction double precision
);
