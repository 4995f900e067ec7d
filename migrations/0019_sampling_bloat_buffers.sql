-- Monitoring depth, second part (issue 15): session sampling (active session history summed per
-- snapshot, from the collector's sampler or pg_wait_sampling), bloat estimated from statistics
-- and measured with pgstattuple_approx, and the shared buffer pool through pg_buffercache.
-- Columns mirror src/collector/catalog (a test compares them). Grafana's read-only role gets the
-- new tables through pga_grant_grafana() (0018), run again at the end.

-- session_samples: Active session history: non-idle backends sampled every few seconds (PGA_COLLECTOR_SESSION_SAMPLE_SECONDS, off by default) or by pg_wait_sampling, summed per snapshot by database, backend type, state, wait event and query_id (joins to statements.queryid).
create table sn_session_samples (
  snap_id bigint not null,
  instance_id uuid not null,
  taken_at timestamptz not null,
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
) partition by range (taken_at);
create index on sn_session_samples (instance_id, taken_at);

-- table_bloat: Estimated bloat of the largest tables of each database (heap and TOAST), from the planner statistics without reading the tables (most bloated first).
create table sn_table_bloat (
  snap_id bigint not null,
  instance_id uuid not null,
  taken_at timestamptz not null,
  datname text,
  schemaname text,
  relname text,
  estimated boolean,
  fillfactor integer,
  size_bytes bigint,
  expected_bytes bigint,
  bloat_bytes bigint,
  bloat_fraction double precision
) partition by range (taken_at);
create index on sn_table_bloat (instance_id, taken_at);

-- index_bloat: Estimated bloat of the largest B-tree indexes of each database, from the planner statistics without reading the indexes (most bloated first).
create table sn_index_bloat (
  snap_id bigint not null,
  instance_id uuid not null,
  taken_at timestamptz not null,
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
) partition by range (taken_at);
create index on sn_index_bloat (instance_id, taken_at);

-- bloat_approx: Dead tuples and free space of the largest tables of the connected database, measured with pgstattuple_approx (extension pgstattuple): it reads the pages the visibility map does not mark all-visible.
create table sn_bloat_approx (
  snap_id bigint not null,
  instance_id uuid not null,
  taken_at timestamptz not null,
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
) partition by range (taken_at);
create index on sn_bloat_approx (instance_id, taken_at);

-- buffer_pool: The shared buffer pool (extension pg_buffercache): buffers used, unused, dirty and pinned, and their average usage count.
create table sn_buffer_pool (
  snap_id bigint not null,
  instance_id uuid not null,
  taken_at timestamptz not null,
  pool_buffers bigint,
  buffers_used bigint,
  buffers_unused bigint,
  buffers_dirty bigint,
  buffers_pinned bigint,
  usagecount_avg double precision
) partition by range (taken_at);
create index on sn_buffer_pool (instance_id, taken_at);

-- buffer_usage: What the shared buffers hold (extension pg_buffercache): one row per database (relation null; null datname: shared catalogs) and the relations holding most buffers.
create table sn_buffer_usage (
  snap_id bigint not null,
  instance_id uuid not null,
  taken_at timestamptz not null,
  datname text,
  relation text,
  buffers bigint,
  bytes bigint,
  dirty_buffers bigint,
  usagecount_avg double precision,
  pool_fraction double precision,
  relation_fraction double precision
) partition by range (taken_at);
create index on sn_buffer_usage (instance_id, taken_at);

select pga_grant_grafana();
