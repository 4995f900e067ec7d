-- ANALYZE skips the value columns of the snapshot tables (issue 17): counters, gauges and info
-- columns, which no read filters, groups or joins on, get statistics target 0. On these wide,
-- insert-only tables autoanalyze computed statistics for every column of each growing daily
-- partition (700 ms of CPU for 36,000 rows of sn_stat_tables, 100 ms without them). This
-- reaches the existing partitions; src/collector/partitions.ts sets the same on each new one
-- (a partition does not take its parent's targets). The columns come from src/collector/catalog.

alter table sn_stat_database
  alter column numbackends set statistics 0,
  alter column xact_commit set statistics 0,
  alter column xact_rollback set statistics 0,
  alter column blks_read set statistics 0,
  alter column blks_hit set statistics 0,
  alter column tup_returned set statistics 0,
  alter column tup_fetched set statistics 0,
  alter column tup_inserted set statistics 0,
  alter column tup_updated set statistics 0,
  alter column tup_deleted set statistics 0,
  alter column conflicts set statistics 0,
  alter column temp_files set statistics 0,
  alter column deadlocks set statistics 0,
  alter column temp_bytes set statistics 0,
  alter column blk_read_time set statistics 0,
  alter column blk_write_time set statistics 0,
  alter column sessions set statistics 0,
  alter column sessions_abandoned set statistics 0,
  alter column sessions_fatal set statistics 0,
  alter column sessions_killed set statistics 0,
  alter column session_time set statistics 0,
  alter column active_time set statistics 0,
  alter column idle_in_transaction_time set statistics 0,
  alter column confl_tablespace set statistics 0,
  alter column confl_lock set statistics 0,
  alter column confl_snapshot set statistics 0,
  alter column confl_bufferpin set statistics 0,
  alter column confl_deadlock set statistics 0,
  alter column xid_age set statistics 0,
  alter column mxid_age set statistics 0,
  alter column stats_reset set statistics 0,
  alter column checksum_failures set statistics 0,
  alter column checksum_last_failure set statistics 0,
  alter column confl_active_logicalslot set statistics 0,
  alter column parallel_workers_to_launch set statistics 0,
  alter column parallel_workers_launched set statistics 0;
alter table sn_database_size
  alter column bytes set statistics 0;
alter table sn_stat_tables
  alter column seq_scan set statistics 0,
  alter column seq_tup_read set statistics 0,
  alter column idx_scan set statistics 0,
  alter column idx_tup_fetch set statistics 0,
  alter column n_tup_ins set statistics 0,
  alter column n_tup_upd set statistics 0,
  alter column n_tup_del set statistics 0,
  alter column n_tup_hot_upd set statistics 0,
  alter column vacuum_count set statistics 0,
  alter column autovacuum_count set statistics 0,
  alter column analyze_count set statistics 0,
  alter column autoanalyze_count set statistics 0,
  alter column n_live_tup set statistics 0,
  alter column n_dead_tup set statistics 0,
  alter column n_mod_since_analyze set statistics 0,
  alter column n_ins_since_vacuum set statistics 0,
  alter column last_vacuum set statistics 0,
  alter column last_autovacuum set statistics 0,
  alter column last_analyze set statistics 0,
  alter column last_autoanalyze set statistics 0,
  alter column heap_blks_read set statistics 0,
  alter column heap_blks_hit set statistics 0,
  alter column idx_blks_read set statistics 0,
  alter column idx_blks_hit set statistics 0,
  alter column toast_blks_read set statistics 0,
  alter column toast_blks_hit set statistics 0,
  alter column total_bytes set statistics 0,
  alter column table_bytes set statistics 0,
  alter column indexes_bytes set statistics 0,
  alter column toast_bytes set statistics 0,
  alter column frozenxid_age set statistics 0,
  alter column sizes_skipped set statistics 0,
  alter column last_seq_scan set statistics 0,
  alter column last_idx_scan set statistics 0,
  alter column n_tup_newpage_upd set statistics 0,
  alter column total_vacuum_time set statistics 0,
  alter column total_autovacuum_time set statistics 0,
  alter column total_analyze_time set statistics 0,
  alter column total_autoanalyze_time set statistics 0;
alter table sn_stat_indexes
  alter column idx_scan set statistics 0,
  alter column idx_tup_read set statistics 0,
  alter column idx_tup_fetch set statistics 0,
  alter column idx_blks_read set statistics 0,
  alter column idx_blks_hit set statistics 0,
  alter column size_bytes set statistics 0,
  alter column unused set statistics 0,
  alter column last_idx_scan set statistics 0,
  alter column sizes_skipped set statistics 0;
alter table sn_stat_statements
  alter column calls set statistics 0,
  alter column total_exec_time set statistics 0,
  alter column total_plan_time set statistics 0,
  alter column plans set statistics 0,
  alter column rows set statistics 0,
  alter column shared_blks_hit set statistics 0,
  alter column shared_blks_read set statistics 0,
  alter column shared_blks_dirtied set statistics 0,
  alter column shared_blks_written set statistics 0,
  alter column local_blks_hit set statistics 0,
  alter column local_blks_read set statistics 0,
  alter column local_blks_written set statistics 0,
  alter column temp_blks_read set statistics 0,
  alter column temp_blks_written set statistics 0,
  alter column blk_read_time set statistics 0,
  alter column blk_write_time set statistics 0,
  alter column wal_records set statistics 0,
  alter column wal_fpi set statistics 0,
  alter column wal_bytes set statistics 0,
  alter column stats_reset set statistics 0,
  alter column min_exec_time set statistics 0,
  alter column max_exec_time set statistics 0,
  alter column mean_exec_time set statistics 0,
  alter column stddev_exec_time set statistics 0,
  alter column min_plan_time set statistics 0,
  alter column max_plan_time set statistics 0,
  alter column mean_plan_time set statistics 0,
  alter column stddev_plan_time set statistics 0,
  alter column temp_blk_read_time set statistics 0,
  alter column temp_blk_write_time set statistics 0,
  alter column jit_functions set statistics 0,
  alter column jit_generation_time set statistics 0,
  alter column jit_inlining_count set statistics 0,
  alter column jit_inlining_time set statistics 0,
  alter column jit_optimization_count set statistics 0,
  alter column jit_optimization_time set statistics 0,
  alter column jit_emission_count set statistics 0,
  alter column jit_emission_time set statistics 0,
  alter column jit_deform_count set statistics 0,
  alter column jit_deform_time set statistics 0,
  alter column stats_since set statistics 0,
  alter column minmax_stats_since set statistics 0,
  alter column wal_buffers_full set statistics 0,
  alter column parallel_workers_to_launch set statistics 0,
  alter column parallel_workers_launched set statistics 0;
alter table sn_statements_info
  alter column entries set statistics 0,
  alter column max_entries set statistics 0,
  alter column dealloc set statistics 0,
  alter column stats_reset set statistics 0;
alter table sn_stat_bgwriter
  alter column buffers_clean set statistics 0,
  alter column maxwritten_clean set statistics 0,
  alter column buffers_alloc set statistics 0,
  alter column buffers_backend set statistics 0,
  alter column buffers_backend_fsync set statistics 0,
  alter column stats_reset set statistics 0;
alter table sn_stat_checkpointer
  alter column num_timed set statistics 0,
  alter column num_requested set statistics 0,
  alter column num_done set statistics 0,
  alter column restartpoints_timed set statistics 0,
  alter column restartpoints_req set statistics 0,
  alter column restartpoints_done set statistics 0,
  alter column write_time set statistics 0,
  alter column sync_time set statistics 0,
  alter column buffers_written set statistics 0,
  alter column stats_reset set statistics 0,
  alter column slru_written set statistics 0;
alter table sn_stat_archiver
  alter column archived_count set statistics 0,
  alter column last_archived_wal set statistics 0,
  alter column last_archived_time set statistics 0,
  alter column failed_count set statistics 0,
  alter column last_failed_wal set statistics 0,
  alter column last_failed_time set statistics 0,
  alter column stats_reset set statistics 0,
  alter column ready_files set statistics 0;
alter table sn_stat_replication
  alter column sync_priority set statistics 0,
  alter column backend_start set statistics 0,
  alter column sent_lsn set statistics 0,
  alter column write_lsn set statistics 0,
  alter column flush_lsn set statistics 0,
  alter column replay_lsn set statistics 0,
  alter column sent_lag_bytes set statistics 0,
  alter column write_lag_bytes set statistics 0,
  alter column flush_lag_bytes set statistics 0,
  alter column replay_lag_bytes set statistics 0,
  alter column write_lag_seconds set statistics 0,
  alter column flush_lag_seconds set statistics 0,
  alter column replay_lag_seconds set statistics 0,
  alter column reply_time set statistics 0;
alter table sn_stat_wal_receiver
  alter column received_tli set statistics 0,
  alter column flushed_lsn set statistics 0,
  alter column replay_lsn set statistics 0,
  alter column replay_lag_bytes set statistics 0,
  alter column replay_delay_seconds set statistics 0,
  alter column last_msg_receipt_time set statistics 0,
  alter column latest_end_time set statistics 0;
alter table sn_replication_slots
  alter column active set statistics 0,
  alter column safe_wal_size set statistics 0,
  alter column retained_bytes set statistics 0,
  alter column xmin_age set statistics 0,
  alter column catalog_xmin_age set statistics 0,
  alter column inactive_since set statistics 0;
alter table sn_stat_wal
  alter column lsn_bytes set statistics 0,
  alter column wal_records set statistics 0,
  alter column wal_fpi set statistics 0,
  alter column wal_bytes set statistics 0,
  alter column wal_buffers_full set statistics 0,
  alter column wal_write set statistics 0,
  alter column wal_sync set statistics 0,
  alter column wal_write_time set statistics 0,
  alter column wal_sync_time set statistics 0,
  alter column stats_reset set statistics 0;
alter table sn_stat_io
  alter column reads set statistics 0,
  alter column writes set statistics 0,
  alter column writebacks set statistics 0,
  alter column extends set statistics 0,
  alter column hits set statistics 0,
  alter column evictions set statistics 0,
  alter column reuses set statistics 0,
  alter column fsyncs set statistics 0,
  alter column read_bytes set statistics 0,
  alter column write_bytes set statistics 0,
  alter column extend_bytes set statistics 0,
  alter column read_time set statistics 0,
  alter column write_time set statistics 0,
  alter column writeback_time set statistics 0,
  alter column extend_time set statistics 0,
  alter column fsync_time set statistics 0,
  alter column stats_reset set statistics 0;
alter table sn_stat_activity
  alter column sessions set statistics 0,
  alter column max_xact_age_seconds set statistics 0,
  alter column max_query_age_seconds set statistics 0,
  alter column max_state_age_seconds set statistics 0;
alter table sn_lock_waits
  alter column blocked_sessions set statistics 0,
  alter column wait_seconds set statistics 0,
  alter column xact_age_seconds set statistics 0;
alter table sn_vacuum_progress
  alter column heap_blks_total set statistics 0,
  alter column heap_blks_scanned set statistics 0,
  alter column heap_blks_vacuumed set statistics 0,
  alter column index_vacuum_count set statistics 0,
  alter column running_seconds set statistics 0,
  alter column max_dead_tuples set statistics 0,
  alter column num_dead_item_ids set statistics 0,
  alter column max_dead_tuple_bytes set statistics 0,
  alter column dead_tuple_bytes set statistics 0,
  alter column indexes_total set statistics 0,
  alter column indexes_processed set statistics 0,
  alter column delay_time set statistics 0;
alter table sn_storage
  alter column size_bytes set statistics 0,
  alter column files set statistics 0;
alter table sn_xmin_horizon
  alter column held_xmin set statistics 0,
  alter column xmin_age set statistics 0,
  alter column catalog_xmin_age set statistics 0,
  alter column held_xid set statistics 0,
  alter column xid_age set statistics 0,
  alter column horizon_age set statistics 0,
  alter column xact_age_seconds set statistics 0;
alter table sn_table_ages
  alter column frozenxid_age set statistics 0,
  alter column minmxid_age set statistics 0,
  alter column freeze_max_age set statistics 0,
  alter column multixact_freeze_max_age set statistics 0,
  alter column pages set statistics 0;
alter table sn_sequences
  alter column last_value set statistics 0,
  alter column increment_by set statistics 0,
  alter column limit_value set statistics 0,
  alter column remaining set statistics 0,
  alter column used_fraction set statistics 0;
alter table sn_checkpoint_state
  alter column checkpoint_lsn set statistics 0,
  alter column redo_lsn set statistics 0,
  alter column redo_wal_file set statistics 0,
  alter column timeline_id set statistics 0,
  alter column checkpoint_time set statistics 0,
  alter column checkpoint_age_seconds set statistics 0,
  alter column wal_since_redo_bytes set statistics 0,
  alter column oldest_xid_age set statistics 0;
alter table sn_stat_slru
  alter column blks_zeroed set statistics 0,
  alter column blks_hit set statistics 0,
  alter column blks_read set statistics 0,
  alter column blks_written set statistics 0,
  alter column blks_exists set statistics 0,
  alter column flushes set statistics 0,
  alter column truncates set statistics 0,
  alter column stats_reset set statistics 0;
alter table sn_stat_recovery_prefetch
  alter column prefetch set statistics 0,
  alter column hit set statistics 0,
  alter column skip_init set statistics 0,
  alter column skip_new set statistics 0,
  alter column skip_fpw set statistics 0,
  alter column skip_rep set statistics 0,
  alter column wal_distance set statistics 0,
  alter column block_distance set statistics 0,
  alter column io_depth set statistics 0,
  alter column stats_reset set statistics 0;
alter table sn_stat_subscription
  alter column received_lsn set statistics 0,
  alter column latest_end_lsn set statistics 0,
  alter column last_msg_send_time set statistics 0,
  alter column last_msg_receipt_time set statistics 0,
  alter column latest_end_time set statistics 0,
  alter column receipt_age_seconds set statistics 0,
  alter column sync_workers set statistics 0,
  alter column apply_error_count set statistics 0,
  alter column sync_error_count set statistics 0,
  alter column stats_reset set statistics 0;
alter table sn_subscription_tables
  alter column tables set statistics 0;
alter table sn_stat_replication_slots
  alter column spill_txns set statistics 0,
  alter column spill_count set statistics 0,
  alter column spill_bytes set statistics 0,
  alter column stream_txns set statistics 0,
  alter column stream_count set statistics 0,
  alter column stream_bytes set statistics 0,
  alter column total_txns set statistics 0,
  alter column total_bytes set statistics 0,
  alter column stats_reset set statistics 0;
alter table sn_index_hygiene
  alter column size_bytes set statistics 0,
  alter column idx_scan set statistics 0,
  alter column stats_age_seconds set statistics 0;
alter table sn_maintenance_progress
  alter column blocks_total set statistics 0,
  alter column blocks_done set statistics 0,
  alter column tuples_total set statistics 0,
  alter column tuples_done set statistics 0,
  alter column bytes_total set statistics 0,
  alter column bytes_done set statistics 0,
  alter column running_seconds set statistics 0;
alter table sn_stat_user_functions
  alter column calls set statistics 0,
  alter column total_time set statistics 0,
  alter column self_time set statistics 0;
alter table sn_session_samples
  alter column samples set statistics 0,
  alter column samples_taken set statistics 0,
  alter column avg_sessions set statistics 0,
  alter column wait_event_description set statistics 0;
alter table sn_table_bloat
  alter column fillfactor set statistics 0,
  alter column size_bytes set statistics 0,
  alter column expected_bytes set statistics 0,
  alter column bloat_bytes set statistics 0,
  alter column bloat_fraction set statistics 0;
alter table sn_index_bloat
  alter column fillfactor set statistics 0,
  alter column size_bytes set statistics 0,
  alter column expected_bytes set statistics 0,
  alter column bloat_bytes set statistics 0,
  alter column bloat_fraction set statistics 0;
alter table sn_bloat_approx
  alter column size_bytes set statistics 0,
  alter column scanned_percent set statistics 0,
  alter column live_tuples set statistics 0,
  alter column live_bytes set statistics 0,
  alter column dead_tuples set statistics 0,
  alter column dead_bytes set statistics 0,
  alter column free_bytes set statistics 0,
  alter column reclaimable_fraction set statistics 0;
alter table sn_buffer_pool
  alter column pool_buffers set statistics 0,
  alter column buffers_used set statistics 0,
  alter column buffers_unused set statistics 0,
  alter column buffers_dirty set statistics 0,
  alter column buffers_pinned set statistics 0,
  alter column usagecount_avg set statistics 0;
alter table sn_buffer_usage
  alter column buffers set statistics 0,
  alter column bytes set statistics 0,
  alter column dirty_buffers set statistics 0,
  alter column usagecount_avg set statistics 0,
  alter column pool_fraction set statistics 0,
  alter column relation_fraction set statistics 0;
alter table sn_sysstat_cpu
  alter column seconds set statistics 0;
alter table sn_sysstat_load
  alter column cpus set statistics 0,
  alter column load1 set statistics 0,
  alter column load5 set statistics 0,
  alter column load15 set statistics 0,
  alter column processes set statistics 0,
  alter column threads set statistics 0,
  alter column procs_running set statistics 0,
  alter column procs_blocked set statistics 0,
  alter column context_switches set statistics 0,
  alter column interrupts set statistics 0,
  alter column forks set statistics 0,
  alter column uptime_seconds set statistics 0;
alter table sn_sysstat_memory
  alter column total_bytes set statistics 0,
  alter column free_bytes set statistics 0,
  alter column available_bytes set statistics 0,
  alter column buffers_bytes set statistics 0,
  alter column cached_bytes set statistics 0,
  alter column shmem_bytes set statistics 0,
  alter column slab_reclaimable_bytes set statistics 0,
  alter column dirty_bytes set statistics 0,
  alter column writeback_bytes set statistics 0,
  alter column committed_bytes set statistics 0,
  alter column commit_limit_bytes set statistics 0,
  alter column swap_total_bytes set statistics 0,
  alter column swap_free_bytes set statistics 0,
  alter column swap_cached_bytes set statistics 0,
  alter column hugepages set statistics 0,
  alter column hugepages_free set statistics 0,
  alter column hugepage_size_bytes set statistics 0,
  alter column swap_in set statistics 0,
  alter column swap_out set statistics 0,
  alter column major_faults set statistics 0,
  alter column oom_kills set statistics 0;
alter table sn_sysstat_disk
  alter column reads set statistics 0,
  alter column reads_merged set statistics 0,
  alter column read_bytes set statistics 0,
  alter column read_time set statistics 0,
  alter column writes set statistics 0,
  alter column writes_merged set statistics 0,
  alter column write_bytes set statistics 0,
  alter column write_time set statistics 0,
  alter column io_in_progress set statistics 0,
  alter column io_time set statistics 0,
  alter column weighted_io_time set statistics 0,
  alter column discards set statistics 0,
  alter column flushes set statistics 0;
alter table sn_sysstat_filesystem
  alter column size_bytes set statistics 0,
  alter column free_bytes set statistics 0,
  alter column avail_bytes set statistics 0,
  alter column used_bytes set statistics 0,
  alter column files set statistics 0,
  alter column files_free set statistics 0,
  alter column readonly set statistics 0;
alter table sn_sysstat_network
  alter column receive_bytes set statistics 0,
  alter column receive_packets set statistics 0,
  alter column receive_errors set statistics 0,
  alter column receive_drops set statistics 0,
  alter column transmit_bytes set statistics 0,
  alter column transmit_packets set statistics 0,
  alter column transmit_errors set statistics 0,
  alter column transmit_drops set statistics 0;
alter table sn_sysstat_pg_volume
  alter column size_bytes set statistics 0,
  alter column avail_bytes set statistics 0,
  alter column used_bytes set statistics 0,
  alter column files set statistics 0,
  alter column files_free set statistics 0;
