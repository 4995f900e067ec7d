-- Grafana's read-only role reads the groups 0017 added too: pga_grant_grafana() (0016) is
-- redefined to grant every snapshot table it finds instead of a list, and run again.
create or replace function pga_grant_grafana() returns boolean language plpgsql as $$
declare
  snapshot_table regclass;
begin
  if not exists (select 1 from pg_roles where rolname = 'pganalytics_grafana') then
    return false;
  end if;
  begin
    execute format('grant connect on database %I to pganalytics_grafana', current_database());
  exception when insufficient_privilege then
    raise notice 'grant CONNECT on database % to pganalytics_grafana yourself', current_database();
  end;
  grant usage on schema public to pganalytics_grafana;
  -- Every group's snapshot table (parents: partitions are read through them), so a new group
  -- needs only this function run again, not a new list. Query texts and the blocked queries of
  -- lock waits stay behind pga_statement_text() and pga_lock_query() and the column grants below.
  for snapshot_table in
    select c.oid::regclass from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = 'public' and c.relname like 'sn\_%' and c.relkind in ('r', 'p', 'v')
       and not c.relispartition and c.relname not in ('sn_statement_texts', 'sn_lock_waits')
  loop
    execute format('grant select on %s to pganalytics_grafana', snapshot_table);
  end loop;
  grant select (snap_id, instance_id, taken_at, pid, datname, usename, application_name, state, wait_event_type,
    wait_event, blocking_pids, blocked_sessions, lock_type, lock_mode, relation, wait_seconds, xact_age_seconds)
    on sn_lock_waits to pganalytics_grafana;
  grant select (id, name, host, port, database, tags, enabled, is_self, capabilities, probed_at, created_at)
    on pga_instances to pganalytics_grafana;
  grant select (instance_id, agent_id, hostname, version, first_seen, last_seen, batches, samples)
    on pga_agent_streams to pganalytics_grafana;
  grant select (id, instance_id, instance_name, repository_id, backup_type, status, parent_backup_id, chain_id,
    database_name, compression, compression_level, pg_version, timeline, start_lsn, end_lsn, consistent_at,
    started_at, finished_at, source_size_bytes, stored_size_bytes, file_count, chunk_count, new_chunk_count,
    verified_at, progress, error, schedule_id, deleted_at, created_at)
    on backup_metadata to pganalytics_grafana;
  grant select (id, backup_id, mode, status, target, achieved_target, rto_ms, wal_segments, wal_bytes,
    restored_size_bytes, error, started_at, finished_at, created_at)
    on restore_operations to pganalytics_grafana;
  grant select (instance_id, repository_id, timeline, stored_lsn, stored_at, first_segment, last_error, updated_at)
    on backup_wal_streams to pganalytics_grafana;
  grant execute on function pga_statement_text(uuid, bigint), pga_lock_query(uuid, timestamptz, integer)
    to pganalytics_grafana;
  return true;
end $$;

select pga_grant_grafana();
