// Tables and indexes: what is big and growing, how tables are scanned, dead rows and vacuum, the
// tables nearest wraparound, unused indexes, and vacuums running now.
import { Board, type DashboardDefinition } from '../board.ts'
import { increases, inRange, instanceIs, lastPerInterval, rated } from '../sql.ts'
import { databaseVariable, instanceVariable, relationVariable } from '../variables.ts'

const tableKeys = ['datname', 'schemaname', 'relname']
const picked = `datname in ($database) and schemaname || '.' || relname in ($relation)`
const name = `datname || ': ' || schemaname || '.' || relname`

const tablesWindow = increases({
  table: 'sn_stat_tables',
  keys: tableKeys,
  counters: [
    'seq_scan',
    'seq_tup_read',
    'idx_scan',
    'n_tup_ins',
    'n_tup_upd',
    'n_tup_del',
    'n_tup_hot_upd',
    'vacuum_count',
    'autovacuum_count',
  ],
  columns: [
    'total_bytes',
    'table_bytes',
    'indexes_bytes',
    'n_live_tup',
    'n_dead_tup',
    'n_mod_since_analyze',
    'last_vacuum',
    'last_autovacuum',
    'last_autoanalyze',
    'frozenxid_age',
  ],
  where: 'datname in ($database)',
})

const gauge = (
  column: string,
) => `with ${lastPerInterval({ table: 'sn_stat_tables', keys: tableKeys, columns: [column], where: picked })}
select to_timestamp(bucket) as time, ${name} as metric, ${column} as value
  from samples where to_timestamp(bucket) >= $__timeFrom()::timestamptz order by 1`

const tables = (board: Board): Board =>
  board
    .table('Tables', {
      description:
        'Largest tables in the selected databases: sizes now and growth over the range, live and dead rows, scans and row changes over the range, HOT updates, last vacuum, xid age.',
      sql: `${tablesWindow}
select datname as database, schemaname || '.' || relname as "table", total_bytes as "total size",
       total_bytes - first_total_bytes as growth, table_bytes as "heap", indexes_bytes as indexes,
       n_live_tup as "live rows", n_dead_tup as "dead rows",
       n_dead_tup::float8 / nullif(n_live_tup + n_dead_tup, 0) as "dead share",
       seq_scan as "seq scans", idx_scan as "index scans", seq_tup_read as "rows read by seq scans",
       n_tup_ins + n_tup_upd + n_tup_del as "rows changed", n_tup_hot_upd::float8 / nullif(n_tup_upd, 0) as "HOT share",
       greatest(last_vacuum, last_autovacuum) as "last vacuum", autovacuum_count as autovacuums,
       n_mod_since_analyze as "changed since analyze", frozenxid_age as "xid age"
  from increases order by total_bytes desc nulls last limit 100`,
      height: 12,
      fieldUnits: {
        'total size': 'bytes',
        growth: 'bytes',
        heap: 'bytes',
        indexes: 'bytes',
        'dead share': 'percentunit',
        'HOT share': 'percentunit',
      },
    })
    .timeseries('Table size', {
      description: 'Total size (heap, indexes, TOAST) of the tables picked above.',
      sql: gauge('total_bytes'),
      unit: 'bytes',
    })
    .timeseries('Dead rows', {
      description: 'Estimated dead rows of the tables picked above: vacuum removes them.',
      sql: gauge('n_dead_tup'),
    })
    .timeseries('Sequential and index scans per second', {
      description:
        'Scans per second of the tables picked above (a growing sequential share on a big table wants an index).',
      sql: `${rated({ table: 'sn_stat_tables', keys: tableKeys, counters: ['seq_scan', 'idx_scan'], where: picked })}
select time, sum(seq_scan) as sequential, sum(idx_scan) as index from rated where ${inRange()} group by time order by time`,
    })
    .table('Nearest to wraparound', {
      description:
        'Tables with the oldest relfrozenxid: autovacuum must freeze them before 2^31 (anti-wraparound vacuum starts at autovacuum_freeze_max_age).',
      sql: `${tablesWindow}
select datname as database, schemaname || '.' || relname as "table", frozenxid_age as "xid age",
       frozenxid_age::float8 / 2147483648 as "share of wraparound", greatest(last_vacuum, last_autovacuum) as "last vacuum",
       total_bytes as size
  from increases order by frozenxid_age desc nulls last limit 20`,
      width: 12,
      fieldUnits: { 'share of wraparound': 'percentunit', size: 'bytes' },
    })
    .table('Vacuums running', {
      description: 'Vacuums (manual and autovacuum) at the last sample of the range: phase and progress.',
      sql: `with latest as (
  select snap_id, taken_at from sn_stat_snapshot
   where ${instanceIs()} and group_name = 'vacuum_progress' and status = 'ok' and $__timeFilter(taken_at)
   order by taken_at desc limit 1)
select v.datname as database, v.relation, v.autovacuum, v.phase,
       v.heap_blks_scanned::float8 / nullif(v.heap_blks_total, 0) as scanned,
       v.heap_blks_vacuumed::float8 / nullif(v.heap_blks_total, 0) as vacuumed,
       v.index_vacuum_count as "index passes", v.running_seconds as running
  from sn_vacuum_progress v join latest l on l.snap_id = v.snap_id and l.taken_at = v.taken_at
 order by v.running_seconds desc`,
      width: 12,
      mayBeEmpty: 'no vacuum was running at the last sample',
      fieldUnits: { scanned: 'percentunit', vacuumed: 'percentunit', running: 's' },
    })

const indexes = (board: Board): Board =>
  board
    .table('Indexes', {
      description:
        'Largest indexes in the selected databases: size, scans over the range, unused (never scanned since the statistics reset and enforcing nothing: a drop candidate).',
      sql: `${increases({ table: 'sn_stat_indexes', keys: ['datname', 'schemaname', 'relname', 'indexrelname'], counters: ['idx_scan', 'idx_tup_read'], columns: ['size_bytes', 'unused', 'is_unique', 'is_primary', 'last_idx_scan'], where: 'datname in ($database)' })}
select datname as database, schemaname || '.' || indexrelname as index, relname as "table", size_bytes as size,
       idx_scan as "scans in range", idx_tup_read as "entries read", unused, is_unique as "unique", is_primary as primary,
       last_idx_scan as "last scan"
  from increases order by size_bytes desc nulls last limit 100`,
      height: 10,
      fieldUnits: { size: 'bytes' },
    })
    .table('Unused indexes', {
      description:
        'Indexes never scanned and enforcing no constraint, largest first: each costs writes and space.',
      sql: `with latest as (
  select distinct on (datname) snap_id, taken_at from sn_stat_snapshot
   where ${instanceIs()} and group_name = 'indexes' and status = 'ok' and $__timeFilter(taken_at) and datname in ($database)
   order by datname, taken_at desc)
select i.datname as database, i.schemaname || '.' || i.indexrelname as index, i.relname as "table", i.size_bytes as size
  from sn_stat_indexes i join latest l on l.snap_id = i.snap_id and l.taken_at = i.taken_at
 where i.unused order by i.size_bytes desc limit 100`,
      mayBeEmpty: 'every index is used or enforces a constraint',
      fieldUnits: { size: 'bytes' },
    })

export const tablesIndexes: DashboardDefinition = {
  file: 'tables-indexes.json',
  answers:
    'Which tables are largest and growing, scanned sequentially, bloated with dead rows, behind on vacuum or near wraparound; which indexes are never used?',
  build: () =>
    [tables, indexes].reduce(
      (board, part) => part(board),
      new Board({
        uid: 'pga-tables-indexes',
        title: 'pganalytics / Tables and indexes',
        description:
          'Sizes and growth, scans, dead rows, vacuum and freeze age, unused indexes (largest objects first).',
        variables: [instanceVariable(), databaseVariable(), relationVariable()],
        time: 'now-24h',
      }),
    ),
}
