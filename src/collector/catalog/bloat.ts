// Bloat, per database: space tables and B-tree indexes take beyond what their rows need, estimated
// from the planner statistics (the well-known pgstats-based estimate: row width from pg_stats,
// tuple and page overheads, fillfactor), with no extension and without opening a relation, so a
// table under an exclusive lock cannot stall it. Bounded: only the largest N relations by pages
// are estimated. Where pgstattuple is installed, bloat_approx measures the largest few tables of
// the connected database with pgstattuple_approx (reads the pages the visibility map does not
// mark all-visible), skipping tables under an AccessExclusiveLock.
import { gauge, key, label } from './columns.ts'
import type { MetricGroup } from './types.ts'

/** Pages, tuples and fillfactor as pg_class has them; 8-byte alignment (64-bit servers). */
const fillfactorOf = (reloptions: string, byDefault: number) =>
  `coalesce(substring(array_to_string(${reloptions}, ' ') from 'fillfactor=([0-9]+)')::int, ${byDefault})`
const userSchema = `n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_toast'
       and not pg_is_other_temp_schema(n.oid)`

/** Without statistics for every column (never analyzed, or a login without SELECT on the table:
 * pg_stats hides what it may not read), or with `name` columns (their width is misreported), no
 * estimate is made. */
const tableBloatSql = `
  with target as (
    select c.oid, n.nspname::text as schemaname, c.relname::text as relname, c.reltuples::numeric as reltuples,
           c.relpages::bigint + coalesce(t.relpages, 0)::bigint as pages, coalesce(t.reltuples, 0)::numeric as toast_tuples,
           ${fillfactorOf('c.reloptions', 100)} as fillfactor
      from pg_class c
      join pg_namespace n on n.oid = c.relnamespace
      left join pg_class t on t.oid = c.reltoastrelid
     where c.relkind in ('r', 'm') and ${userSchema}
     order by c.relpages::bigint + coalesce(t.relpages, 0) desc, c.oid
     limit $1),
  widths as (
    select x.oid, count(a.attnum) as columns, count(s.attname) as columns_with_stats,
           coalesce(max(s.null_frac), 0) as max_null_frac,
           coalesce(sum((1 - coalesce(s.null_frac, 0)) * coalesce(s.avg_width, 0)), 0) as data_width,
           coalesce(bool_or(a.atttypid = 'pg_catalog.name'::regtype), false) as has_name
      from target x
      left join pg_attribute a on a.attrelid = x.oid and a.attnum > 0 and not a.attisdropped
      left join pg_stats s on s.schemaname = x.schemaname and s.tablename = x.relname and s.attname = a.attname
                          and not s.inherited
     group by x.oid),
  shape as (
    select x.*, w.columns_with_stats = w.columns and w.columns > 0 and not w.has_name and x.reltuples >= 0 as estimated,
           current_setting('block_size')::numeric as bs,
           23 + case when w.max_null_frac > 0 then (7 + w.columns) / 8 else 0 end as hdr, w.data_width
      from target x join widths w using (oid)),
  sized as (
    select s.*, 4 + s.hdr + s.data_width + 16 - case when s.hdr % 8 = 0 then 8 else s.hdr % 8 end
                 - case when ceil(s.data_width)::int % 8 = 0 then 8 else ceil(s.data_width)::int % 8 end as tuple_size
      from shape s),
  expected as (
    select z.*, case when z.estimated then
             (ceil(greatest(z.reltuples, 0) / ((z.bs - 24) * z.fillfactor / (z.tuple_size * 100))) + ceil(z.toast_tuples / 4))
           end as expected_pages
      from sized z)
  select current_database()::text as datname, e.schemaname, e.relname, e.estimated, e.fillfactor,
         (e.pages * e.bs)::bigint as size_bytes, (e.expected_pages * e.bs)::bigint as expected_bytes,
         (e.extra_pages * e.bs)::bigint as bloat_bytes,
         case when e.pages > 0 then (e.extra_pages / e.pages)::double precision end as bloat_fraction
    from (select x.*, case when x.estimated then greatest(x.pages - x.expected_pages, 0) end as extra_pages
            from expected x) e
   order by e.extra_pages desc nulls last, e.pages desc, e.oid`

/** B-tree only (the estimate knows its page layout). Key columns of expressions take their
 * statistics from the index itself; a column without statistics counts 1 KiB, as the original
 * estimate does, and marks the row not estimated. */
const indexBloatSql = `
  with target as (
    select i.indexrelid, i.indrelid, i.indnatts, i.indkey, n.nspname::text as schemaname, t.relname::text as relname,
           c.relname::text as indexrelname, c.reltuples::numeric as reltuples, c.relpages::bigint as pages,
           ${fillfactorOf('c.reloptions', 90)} as fillfactor
      from pg_index i
      join pg_class c on c.oid = i.indexrelid
      join pg_class t on t.oid = i.indrelid
      join pg_namespace n on n.oid = c.relnamespace
      join pg_am am on am.oid = c.relam
     where am.amname = 'btree' and c.relpages > 0 and ${userSchema}
     order by c.relpages desc, c.oid
     limit $1),
  attrs as (
    select x.indexrelid, coalesce(ta.attname, ia.attname) as attname, coalesce(ta.atttypid, ia.atttypid) as atttypid,
           case when x.indkey[k] = 0 then x.indexrelname else x.relname end as statrel
      from target x
      cross join generate_series(0, x.indnatts - 1) k
      left join pg_attribute ta on x.indkey[k] <> 0 and ta.attrelid = x.indrelid and ta.attnum = x.indkey[k]
      left join pg_attribute ia on x.indkey[k] = 0 and ia.attrelid = x.indexrelid and ia.attnum = k + 1),
  widths as (
    select a.indexrelid, count(*) as columns, count(s.attname) as columns_with_stats,
           coalesce(max(s.null_frac), 0) as max_null_frac,
           sum((1 - coalesce(s.null_frac, 0)) * coalesce(s.avg_width, 1024)) as data_width,
           bool_or(a.atttypid = 'pg_catalog.name'::regtype) as has_name
      from attrs a
      join target x on x.indexrelid = a.indexrelid
      left join pg_stats s on s.schemaname = x.schemaname and s.tablename = a.statrel and s.attname = a.attname
     group by a.indexrelid),
  shape as (
    select x.*, w.columns_with_stats = w.columns and not w.has_name and x.reltuples >= 0 as estimated,
           current_setting('block_size')::numeric as bs,
           case when w.max_null_frac = 0 then 8 else 12 end as hdr, w.data_width
      from target x join widths w using (indexrelid)),
  sized as (
    select s.*, s.hdr + 8 - case when s.hdr % 8 = 0 then 8 else s.hdr % 8 end + s.data_width
                + case when s.data_width = 0 then 0
                       when s.data_width::int % 8 = 0 then 0 else 8 - s.data_width::int % 8 end as tuple_width
      from shape s),
  expected as (
    select z.*, case when z.estimated then
             1 + ceil(greatest(z.reltuples, 0) / floor((z.bs - 16 - 24) * z.fillfactor / (100 * (4 + z.tuple_width))))
           end as expected_pages
      from sized z)
  select current_database()::text as datname, e.schemaname, e.relname, e.indexrelname, e.estimated, e.fillfactor,
         (e.pages * e.bs)::bigint as size_bytes, (e.expected_pages * e.bs)::bigint as expected_bytes,
         (e.extra_pages * e.bs)::bigint as bloat_bytes, (e.extra_pages / e.pages)::double precision as bloat_fraction
    from (select x.*, case when x.estimated then greatest(x.pages - x.expected_pages, 0) end as extra_pages
            from expected x) e
   order by e.extra_pages desc nulls last, e.pages desc, e.indexrelid`

const estimateColumns = [
  label(
    'estimated',
    'boolean',
    'An estimate was made: false when a column has no statistics (never analyzed, or the login may not SELECT the table), or a name column.',
  ),
  gauge('fillfactor', 'integer', 'Fill factor the estimate packs pages to.'),
  gauge('size_bytes', 'bigint', 'Size at the last vacuum or analyze (relpages × block size).', 'bytes'),
  gauge(
    'expected_bytes',
    'bigint',
    'Size the rows would take packed at the fill factor (estimate).',
    'bytes',
  ),
  gauge(
    'bloat_bytes',
    'bigint',
    'Size beyond the expected size (estimate; null when not estimated).',
    'bytes',
  ),
  gauge('bloat_fraction', 'double precision', 'bloat_bytes / size_bytes (0–1).'),
]
const estimatePrivileges =
  'A login without SELECT on a table (pg_monitor alone has none) sees no pg_stats rows for it: its row has estimated = false (grant SELECT, or pg_read_all_data from 14).'

export const tableBloat: MetricGroup = {
  name: 'table_bloat',
  scope: 'database',
  table: 'sn_table_bloat',
  help: 'Estimated bloat of the largest tables of each database (heap and TOAST), from the planner statistics without reading the tables (most bloated first).',
  defaultIntervalSeconds: 3600,
  defaultRetentionDays: 30,
  rowLimit: 100,
  privileges: estimatePrivileges,
  columns: [
    key('datname', 'text', 'Database.'),
    key('schemaname', 'text', 'Schema.'),
    key('relname', 'text', 'Table (or materialized view).'),
    ...estimateColumns,
  ],
  variants: [{ when: () => true, source: 'pg_class, pg_attribute, pg_stats (estimate)', sql: tableBloatSql }],
}

export const indexBloat: MetricGroup = {
  name: 'index_bloat',
  scope: 'database',
  table: 'sn_index_bloat',
  help: 'Estimated bloat of the largest B-tree indexes of each database, from the planner statistics without reading the indexes (most bloated first).',
  defaultIntervalSeconds: 3600,
  defaultRetentionDays: 30,
  rowLimit: 100,
  privileges: estimatePrivileges,
  columns: [
    key('datname', 'text', 'Database.'),
    key('schemaname', 'text', 'Schema.'),
    label('relname', 'text', 'Table of the index.'),
    key('indexrelname', 'text', 'Index.'),
    ...estimateColumns,
  ],
  variants: [
    { when: () => true, source: 'pg_index, pg_class, pg_attribute, pg_stats (estimate)', sql: indexBloatSql },
  ],
}

/** Largest tables first; a table, its TOAST table or an index of either under an
 * AccessExclusiveLock (held or awaited) is skipped, lock_timeout being the backstop. */
const bloatApproxSql = `
  with locked as (
    select l.relation from pg_locks l
     where l.locktype = 'relation' and l.mode = 'AccessExclusiveLock'
       and l.database = (select oid from pg_database where datname = current_database())),
  target as (
    select c.oid, n.nspname::text as schemaname, c.relname::text as relname,
           exists (select 1 from locked l where l.relation in (c.oid, c.reltoastrelid)
                      or l.relation in (select x.indexrelid from pg_index x where x.indrelid = c.oid)) as skipped
      from pg_class c
      join pg_namespace n on n.oid = c.relnamespace
     where c.relkind in ('r', 'm') and ${userSchema}
     order by c.relpages desc, c.oid
     limit $1)
  -- pgstattuple_approx is strict: a skipped table passes null and is never opened.
  select current_database()::text as datname, x.schemaname, x.relname, x.skipped,
         a.table_len as size_bytes, a.scanned_percent, a.approx_tuple_count::bigint as live_tuples,
         a.approx_tuple_len as live_bytes, a.dead_tuple_count as dead_tuples, a.dead_tuple_len as dead_bytes,
         a.approx_free_space as free_bytes,
         case when a.table_len > 0
              then ((a.dead_tuple_len + a.approx_free_space)::numeric / a.table_len)::double precision end
           as reclaimable_fraction
    from target x
    left join lateral {{schema:pgstattuple}}.pgstattuple_approx(case when not x.skipped then x.oid end::regclass) a
      on true
   order by x.skipped, a.dead_tuple_len + a.approx_free_space desc nulls last, x.oid`

export const bloatApprox: MetricGroup = {
  name: 'bloat_approx',
  scope: 'instance',
  table: 'sn_bloat_approx',
  help: 'Dead tuples and free space of the largest tables of the connected database, measured with pgstattuple_approx (extension pgstattuple): it reads the pages the visibility map does not mark all-visible.',
  defaultIntervalSeconds: 3600,
  defaultRetentionDays: 30,
  rowLimit: 10,
  privileges:
    'pgstattuple_approx is granted to pg_stat_scan_tables (part of pg_monitor) from pgstattuple 1.5.',
  unavailable: (c) =>
    c.extensions.pgstattuple
      ? null
      : 'the pgstattuple extension is not installed in the connected database (CREATE EXTENSION pgstattuple)',
  columns: [
    key('datname', 'text', 'Database (the one the instance connects to).'),
    key('schemaname', 'text', 'Schema.'),
    key('relname', 'text', 'Table (or materialized view).'),
    label('skipped', 'boolean', 'Not measured this round: under an AccessExclusiveLock.'),
    gauge('size_bytes', 'bigint', 'Size of the heap.', 'bytes'),
    gauge('scanned_percent', 'double precision', 'Share of the heap read (the rest is all-visible).'),
    gauge('live_tuples', 'bigint', 'Live tuples (estimated for all-visible pages).'),
    gauge('live_bytes', 'bigint', 'Bytes of live tuples.', 'bytes'),
    gauge('dead_tuples', 'bigint', 'Dead tuples.'),
    gauge('dead_bytes', 'bigint', 'Bytes of dead tuples.', 'bytes'),
    gauge(
      'free_bytes',
      'bigint',
      'Free space (estimated for all-visible pages from the free space map).',
      'bytes',
    ),
    gauge('reclaimable_fraction', 'double precision', '(dead_bytes + free_bytes) / size_bytes (0–1).'),
  ],
  variants: [
    {
      when: () => true,
      source: 'pgstattuple_approx, pg_class, pg_locks (extension pgstattuple)',
      sql: bloatApproxSql,
    },
  ],
}
