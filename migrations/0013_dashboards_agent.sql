-- Dashboards and the host agent (issue 14).
-- 1. Host metrics the agent pushes (src/agent): one sn_sysstat_* table per host group of the
--    catalog (src/collector/catalog/system.ts), partitioned by day on taken_at like every sn_*
--    table, under sn_stat_snapshot rows; partitions.ts creates and drops their partitions.
-- 2. Agent streams: the batch id of an agent is (agent_id, sequence); a stream remembers the last
--    sequence stored, so a batch replayed after a lost acknowledgement is accepted once.
-- 3. API keys bound to an instance: role `agent` (push host metrics for that instance only).
-- 4. Read-only roles for Grafana's PostgreSQL data source (grafana/provisioning).
-- 5. The archiver group's backlog (WAL segments waiting to be archived), for the WAL dashboard
--    and the archiver alerts.

alter table sn_stat_archiver add column ready_files bigint;

-- system_cpu: CPU time of the host by mode (user, nice, system, idle, iowait, irq, softirq, steal), all CPUs together.
create table sn_sysstat_cpu (
  snap_id bigint not null,
  instance_id uuid not null,
  taken_at timestamptz not null,
  mode text,
  seconds double precision
) partition by range (taken_at);
create index on sn_sysstat_cpu (instance_id, taken_at);

-- system_load: Load averages, CPUs, processes and threads, context switches, interrupts and forks, uptime.
create table sn_sysstat_load (
  snap_id bigint not null,
  instance_id uuid not null,
  taken_at timestamptz not null,
  cpus integer,
  load1 double precision,
  load5 double precision,
  load15 double precision,
  processes integer,
  threads integer,
  procs_running integer,
  procs_blocked integer,
  context_switches bigint,
  interrupts bigint,
  forks bigint,
  uptime_seconds double precision
) partition by range (taken_at);
create index on sn_sysstat_load (instance_id, taken_at);

-- system_memory: Memory and swap: total, available, page cache, dirty, commit, huge pages; swap and page-fault activity, OOM kills.
create table sn_sysstat_memory (
  snap_id bigint not null,
  instance_id uuid not null,
  taken_at timestamptz not null,
  total_bytes bigint,
  free_bytes bigint,
  available_bytes bigint,
  buffers_bytes bigint,
  cached_bytes bigint,
  shmem_bytes bigint,
  slab_reclaimable_bytes bigint,
  dirty_bytes bigint,
  writeback_bytes bigint,
  committed_bytes bigint,
  commit_limit_bytes bigint,
  swap_total_bytes bigint,
  swap_free_bytes bigint,
  swap_cached_bytes bigint,
  hugepages bigint,
  hugepages_free bigint,
  hugepage_size_bytes bigint,
  swap_in bigint,
  swap_out bigint,
  major_faults bigint,
  oom_kills bigint
) partition by range (taken_at);
create index on sn_sysstat_memory (instance_id, taken_at);

-- system_disk: Disk I/O per block device: operations, bytes, time reading and writing, busy time, queue.
create table sn_sysstat_disk (
  snap_id bigint not null,
  instance_id uuid not null,
  taken_at timestamptz not null,
  device text,
  reads bigint,
  reads_merged bigint,
  read_bytes bigint,
  read_time double precision,
  writes bigint,
  writes_merged bigint,
  write_bytes bigint,
  write_time double precision,
  io_in_progress bigint,
  io_time double precision,
  weighted_io_time double precision,
  discards bigint,
  flushes bigint
) partition by range (taken_at);
create index on sn_sysstat_disk (instance_id, taken_at);

-- system_filesystem: Space and inodes per mounted filesystem, and whether it is read-only.
create table sn_sysstat_filesystem (
  snap_id bigint not null,
  instance_id uuid not null,
  taken_at timestamptz not null,
  mountpoint text,
  device text,
  fstype text,
  size_bytes bigint,
  free_bytes bigint,
  avail_bytes bigint,
  used_bytes bigint,
  files bigint,
  files_free bigint,
  readonly boolean
) partition by range (taken_at);
create index on sn_sysstat_filesystem (instance_id, taken_at);

-- system_network: Network traffic per interface: bytes, packets, errors and drops each way.
create table sn_sysstat_network (
  snap_id bigint not null,
  instance_id uuid not null,
  taken_at timestamptz not null,
  interface text,
  receive_bytes bigint,
  receive_packets bigint,
  receive_errors bigint,
  receive_drops bigint,
  transmit_bytes bigint,
  transmit_packets bigint,
  transmit_errors bigint,
  transmit_drops bigint
) partition by range (taken_at);
create index on sn_sysstat_network (instance_id, taken_at);

-- system_pg_volume: The volumes holding the PostgreSQL data directory and the WAL (pg_wal): space and inodes left.
create table sn_sysstat_pg_volume (
  snap_id bigint not null,
  instance_id uuid not null,
  taken_at timestamptz not null,
  kind text,
  path text,
  mountpoint text,
  device text,
  size_bytes bigint,
  avail_bytes bigint,
  used_bytes bigint,
  files bigint,
  files_free bigint
) partition by range (taken_at);
create index on sn_sysstat_pg_volume (instance_id, taken_at);

create table pga_agent_streams (
  instance_id uuid not null references pga_instances (id) on delete cascade,
  -- Chosen by the agent when its queue directory is created; sequences count up from 1 in it.
  agent_id uuid not null,
  last_sequence bigint not null,
  hostname text not null,
  version text not null,
  first_seen timestamptz not null default now(),
  last_seen timestamptz not null default now(),
  batches bigint not null default 0,
  samples bigint not null default 0,
  primary key (instance_id, agent_id)
);

alter table auth_api_keys
  -- The instance an agent key pushes for; deleting the instance deletes its agent keys.
  add column instance_id uuid references pga_instances (id) on delete cascade,
  drop constraint auth_api_keys_role_check,
  add constraint auth_api_keys_role_check check (role in ('admin', 'operator', 'viewer', 'auditor', 'agent')),
  -- An agent key is bound to exactly one instance; no other key is.
  add constraint auth_api_keys_agent_bound check ((role = 'agent') = (instance_id is not null));
create index on auth_api_keys (instance_id) where instance_id is not null;

-- Grafana reads the store through a login that is a member of pganalytics_grafana: SELECT on the
-- snapshot tables and on the harmless columns of pga_instances (never the encrypted password),
-- nothing else. Query texts stay out of it: pga_statement_text() and pga_lock_query() show them
-- only to members of pganalytics_grafana_query_text as well (the API needs
-- metrics:read_query_text for them).
-- Roles are cluster-wide: created once (by the first database migrated, when the service's login
-- may create roles; otherwise a DBA creates them, see docs/DASHBOARDS.md), granted per database.
do $$
declare
  wanted text;
begin
  foreach wanted in array array['pganalytics_grafana', 'pganalytics_grafana_query_text'] loop
    if not exists (select 1 from pg_roles where rolname = wanted) then
      if (select rolsuper or rolcreaterole from pg_roles where rolname = current_user) then
        begin
          execute format('create role %I nologin', wanted);
        exception when duplicate_object or unique_violation then
          null; -- another database's migration created it at the same moment
        end;
      else
        raise notice 'role % does not exist and % may not create roles: create it (docs/DASHBOARDS.md)',
          wanted, current_user;
      end if;
    end if;
  end loop;
end $$;

-- True when the session's login may see query texts in Grafana (a member of
-- pganalytics_grafana_query_text, or a superuser).
create function pga_sees_query_text() returns boolean
  language sql stable set search_path = pg_catalog
as $$
  select case when exists (select 1 from pg_roles where rolname = 'pganalytics_grafana_query_text')
              then pg_has_role(session_user, 'pganalytics_grafana_query_text', 'member')
              else false end
$$;

create function pga_statement_text(p_instance_id uuid, p_queryid bigint) returns text
  language sql stable security definer set search_path = pg_catalog, public
as $$
  select case when pga_sees_query_text()
              then (select t.query from sn_statement_texts t where t.instance_id = p_instance_id and t.queryid = p_queryid)
              else '(query text hidden: grant pganalytics_grafana_query_text to see it)' end
$$;
revoke all on function pga_statement_text(uuid, bigint) from public;

-- The query of a session in a blocking chain (sn_lock_waits.query is not granted to Grafana).
create function pga_lock_query(p_instance_id uuid, p_taken_at timestamptz, p_pid integer) returns text
  language sql stable security definer set search_path = pg_catalog, public
as $$
  select case when pga_sees_query_text()
              then (select l.query from sn_lock_waits l
                     where l.instance_id = p_instance_id and l.taken_at = p_taken_at and l.pid = p_pid limit 1)
              else '(query text hidden: grant pganalytics_grafana_query_text to see it)' end
$$;
revoke all on function pga_lock_query(uuid, timestamptz, integer) from public;

-- The grants, as a function: run here, and again by the service's login after a DBA created the
-- roles (`select pga_grant_grafana()`, docs/DASHBOARDS.md). Does nothing without the role.
create function pga_grant_grafana() returns boolean language plpgsql as $$
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
  grant select on sn_stat_snapshot, sn_stat_database, sn_stat_tables, sn_stat_indexes, sn_stat_statements,
    sn_settings_changes, sn_stat_bgwriter, sn_stat_checkpointer, sn_stat_archiver, sn_stat_replication,
    sn_stat_wal_receiver, sn_replication_slots, sn_stat_wal, sn_stat_io, sn_stat_activity, sn_vacuum_progress,
    sn_storage, sn_sysstat_cpu, sn_sysstat_load, sn_sysstat_memory, sn_sysstat_disk, sn_sysstat_filesystem,
    sn_sysstat_network, sn_sysstat_pg_volume
    to pganalytics_grafana;
  grant select (snap_id, instance_id, taken_at, pid, datname, usename, application_name, state, wait_event_type,
    wait_event, blocking_pids, blocked_sessions, lock_type, lock_mode, relation, wait_seconds, xact_age_seconds)
    on sn_lock_waits to pganalytics_grafana;
  grant select (id, name, host, port, database, tags, enabled, is_self, capabilities, probed_at, created_at)
    on pga_instances to pganalytics_grafana;
  grant select (instance_id, agent_id, hostname, version, first_seen, last_seen, batches, samples)
    on pga_agent_streams to pganalytics_grafana;
  grant execute on function pga_statement_text(uuid, bigint), pga_lock_query(uuid, timestamptz, integer)
    to pganalytics_grafana;
  return true;
end $$;

select pga_grant_grafana();
