// pg_stat_statements (the statements that changed most since the previous run, query texts
// stored once per queryid), its evictions (statements_info) and settings (stored only when they
// change). pg_stat_statements renamed total_time to total_exec_time in 1.8 and blk_read_time to
// shared_blk_read_time in 1.11; the variants keep the 1.8 names.
import type { Capabilities } from '../../instances/probe.ts'
import { counter, gauge, info, key, label, statsReset } from './columns.ts'
import { type Column, hasColumn, type MetricGroup } from './types.ts'

const blockCounters = [
  'shared_blks_hit',
  'shared_blks_read',
  'shared_blks_dirtied',
  'shared_blks_written',
  'local_blks_hit',
  'local_blks_read',
  'local_blks_written',
  'temp_blks_read',
  'temp_blks_written',
]
const pss = 'pg_stat_statements'

/** Expressions for the columns that differ between extension versions. */
type Shape = {
  exec: string
  plan: string
  plans: string
  toplevel: string
  wal: string
  walRecords: string
  walFpi: string
  ioTimes: string
  reset: string
  /** Extension version as a level: 0 ≤ 1.7, 1 = 1.8, 2 = 1.9, 3 = 1.10, 4 = 1.11, 5 ≥ 1.12. */
  level: number
}

/** Columns kept since a version (level as in Shape), appended after the core ones; null before.
 * Min/max/mean/stddev cover the time since minmax_stats_since (1.11) or the last reset. */
const ms = 'ms' as const
const depth: { column: Column; since: number; before18?: string }[] = [
  ...['min', 'max', 'mean', 'stddev'].flatMap((stat) => [
    {
      column: gauge(`${stat}_exec_time`, 'double precision', `${stat} execution time.`, ms),
      since: 1,
      before18: `s.${stat}_time`,
    },
  ]),
  ...['min', 'max', 'mean', 'stddev'].map((stat) => ({
    column: gauge(
      `${stat}_plan_time`,
      'double precision',
      `${stat} planning time, with track_planning (null before 1.8).`,
      ms,
    ),
    since: 1,
  })),
  {
    column: counter(
      'temp_blk_read_time',
      'Time reading temp blocks, track_io_timing (null before 1.10).',
      ms,
    ),
    since: 3,
  },
  {
    column: counter(
      'temp_blk_write_time',
      'Time writing temp blocks, track_io_timing (null before 1.10).',
      ms,
    ),
    since: 3,
  },
  { column: counter('jit_functions', 'Functions JIT-compiled (null before 1.10).'), since: 3 },
  { column: counter('jit_generation_time', 'Time generating JIT code (null before 1.10).', ms), since: 3 },
  ...['inlining', 'optimization', 'emission'].flatMap((phase) => [
    { column: counter(`jit_${phase}_count`, `Times JIT ${phase} ran (null before 1.10).`), since: 3 },
    { column: counter(`jit_${phase}_time`, `Time in JIT ${phase} (null before 1.10).`, ms), since: 3 },
  ]),
  {
    column: counter('jit_deform_count', 'Tuple deform functions JIT-compiled (null before 1.11).'),
    since: 4,
  },
  {
    column: counter('jit_deform_time', 'Time JIT-compiling tuple deform functions (null before 1.11).', ms),
    since: 4,
  },
  {
    column: info(
      'stats_since',
      'timestamptz',
      'Since when this statement’s counters run (null before 1.11).',
    ),
    since: 4,
  },
  {
    column: info('minmax_stats_since', 'timestamptz', 'Since when its min/max times run (null before 1.11).'),
    since: 4,
  },
  { column: counter('wal_buffers_full', 'Times WAL buffers were full (null before 1.12).'), since: 5 },
  {
    column: counter('parallel_workers_to_launch', 'Parallel workers planned (null before 1.12).'),
    since: 5,
  },
  { column: counter('parallel_workers_launched', 'Parallel workers launched (null before 1.12).'), since: 5 },
]

const depthSelect = (level: number) =>
  depth
    .map(({ column, since, before18 }) => {
      if (level >= since) return `s.${column.name}`
      if (level === 0 && before18) return `${before18} as ${column.name}`
      return `null::${column.type} as ${column.name}`
    })
    .join(', ')

/** What a statement is ranked by: total time, calls, blocks read and written, WAL bytes, temp
 * blocks. Named r_* so they never collide with the view's own columns. */
const rankingColumns = (p: Shape) => `s.queryid, s.userid, s.dbid, ${p.toplevel} as r_toplevel,
           ${p.exec} + coalesce(${p.plan}, 0) as r_time, s.calls as r_calls,
           (s.shared_blks_read + s.shared_blks_written + s.local_blks_read + s.local_blks_written)::float8 as r_io,
           coalesce(${p.wal}, 0)::float8 as r_wal, (s.temp_blks_read + s.temp_blks_written)::float8 as r_temp`

/** The counters the next run ranks against ($2), as JSON: one object per statement. */
const countersSelect = (p: Shape) => `
  select coalesce(jsonb_agg(jsonb_build_object('q', queryid::text, 'u', userid, 'd', dbid, 't', r_toplevel,
           'calls', r_calls, 'time', r_time, 'io', r_io, 'wal', r_wal, 'temp', r_temp)), '[]')::text
    from (select ${rankingColumns(p)} from {{pg_stat_statements}}(false) s where s.queryid is not null) s`

/** `{{pg_stat_statements}}` is replaced by the extension's schema-qualified name; (false): texts
 * are not read here (they are fetched once per queryid). $2 holds the previous run's counters
 * (countersSelect's JSON, '[]' on the first run): each statement is ranked by its change since
 * then in five rankings (time, calls, I/O, WAL, temp), only where it changed, and the cut ($1
 * rows) takes the top of each ranking in turn. A statement new since then, or whose calls went
 * down (reset, evicted and back), counts from zero. Statements that did not change fill the
 * rest of the cut, largest total time first, so a server with fewer statements than the cut
 * still has every one in every snapshot (the read side's deltas need consecutive rows). */
const statementsSelect = (p: Shape) => `
  with cur as (
    select s.*, ${rankingColumns(p).replace('s.queryid, s.userid, s.dbid, ', '')}
      from {{pg_stat_statements}}(false) s where s.queryid is not null),
  prev as (
    select * from jsonb_to_recordset($2::text::jsonb)
        as p(q text, u oid, d oid, t boolean, calls bigint, time float8, io float8, wal float8, temp float8)),
  changed as (
    select c.*, case when f.fresh then c.r_time else c.r_time - p.time end as d_time,
           case when f.fresh then c.r_calls else c.r_calls - p.calls end as d_calls,
           case when f.fresh then c.r_io else c.r_io - p.io end as d_io,
           case when f.fresh then c.r_wal else c.r_wal - p.wal end as d_wal,
           case when f.fresh then c.r_temp else c.r_temp - p.temp end as d_temp
      from cur c
      left join prev p on p.q = c.queryid::text and p.u = c.userid and p.d = c.dbid
                      and p.t is not distinct from c.r_toplevel
      cross join lateral (select p.q is null or c.r_calls < p.calls as fresh) f),
  ranked as (
    select *, least(case when d_time > 0 then row_number() over (order by d_time desc) end,
                    case when d_calls > 0 then row_number() over (order by d_calls desc) end,
                    case when d_io > 0 then row_number() over (order by d_io desc) end,
                    case when d_wal > 0 then row_number() over (order by d_wal desc) end,
                    case when d_temp > 0 then row_number() over (order by d_temp desc) end) as best
      from changed
     order by best, d_time desc, r_time desc
     limit $1)
  select s.queryid, r.rolname::text as usename, db.datname::text, ${p.toplevel} as toplevel, s.calls,
         ${p.exec} as total_exec_time, ${p.plan} as total_plan_time, ${p.plans} as plans, s.rows,
         ${blockCounters.map((c) => `s.${c}`).join(', ')}, ${p.ioTimes},
         ${p.walRecords} as wal_records, ${p.walFpi} as wal_fpi, ${p.wal} as wal_bytes, ${p.reset} as stats_reset,
         ${depthSelect(p.level)}
    from ranked s
    left join pg_roles r on r.oid = s.userid
    left join pg_database db on db.oid = s.dbid
   order by s.best, s.d_time desc, s.r_time desc`

/** Columns named as in pg_stat_statements 1.8 and later. */
const shape18 = {
  exec: 's.total_exec_time',
  plan: 's.total_plan_time',
  plans: 's.plans',
  wal: 's.wal_bytes::bigint',
  walRecords: 's.wal_records',
  walFpi: 's.wal_fpi',
}
const resetInfo = '(select stats_reset from {{pg_stat_statements}}_info)'
const io111 = `s.shared_blk_read_time + s.local_blk_read_time as blk_read_time,
                s.shared_blk_write_time + s.local_blk_write_time as blk_write_time`
const shapes: { when: (c: Capabilities) => boolean; source: string; shape: Shape }[] = [
  {
    when: (c) => hasColumn(c, pss, 'parallel_workers_launched'),
    source: 'pg_stat_statements ≥ 1.12 (PostgreSQL ≥ 18)',
    shape: { ...shape18, toplevel: 's.toplevel', ioTimes: io111, reset: resetInfo, level: 5 },
  },
  {
    when: (c) => hasColumn(c, pss, 'shared_blk_read_time'),
    source: 'pg_stat_statements 1.11 (PostgreSQL 17)',
    shape: { ...shape18, toplevel: 's.toplevel', ioTimes: io111, reset: resetInfo, level: 4 },
  },
  {
    when: (c) => hasColumn(c, pss, 'jit_functions'),
    source: 'pg_stat_statements 1.10 (PostgreSQL 15–16)',
    shape: {
      ...shape18,
      toplevel: 's.toplevel',
      ioTimes: 's.blk_read_time, s.blk_write_time',
      reset: resetInfo,
      level: 3,
    },
  },
  {
    when: (c) => hasColumn(c, pss, 'toplevel'),
    source: 'pg_stat_statements 1.9 (PostgreSQL 14)',
    shape: {
      ...shape18,
      toplevel: 's.toplevel',
      ioTimes: 's.blk_read_time, s.blk_write_time',
      reset: resetInfo,
      level: 2,
    },
  },
  {
    when: (c) => hasColumn(c, pss, 'total_exec_time'),
    source: 'pg_stat_statements 1.8 (PostgreSQL 13)',
    shape: {
      ...shape18,
      toplevel: 'null::boolean',
      ioTimes: 's.blk_read_time, s.blk_write_time',
      reset: 'null::timestamptz',
      level: 1,
    },
  },
  {
    when: () => true,
    source: 'pg_stat_statements ≤ 1.7 (PostgreSQL ≤ 12)',
    shape: {
      exec: 's.total_time',
      plan: 'null::double precision',
      plans: 'null::bigint',
      toplevel: 'null::boolean',
      wal: 'null::bigint',
      walRecords: 'null::bigint',
      walFpi: 'null::bigint',
      ioTimes: 's.blk_read_time, s.blk_write_time',
      reset: 'null::timestamptz',
      level: 0,
    },
  },
]

/** Why neither statements group can run: the extension is missing, or created but not loaded
 * (every query of it fails until it is in shared_preload_libraries). */
function statementsUnavailable(c: Capabilities): string | null {
  if (!c.statementsSchema)
    return 'pg_stat_statements is not installed in the monitored database (CREATE EXTENSION pg_stat_statements)'
  if (c.statementsLoaded === false)
    return 'pg_stat_statements is installed but not loaded: add it to shared_preload_libraries and restart the server'
  return null
}

export const statements: MetricGroup = {
  name: 'statements',
  scope: 'instance',
  table: 'sn_stat_statements',
  help: 'pg_stat_statements: the statements that changed most since the previous collection (by total time, calls, block I/O, WAL and temp blocks in turn, per-instance cap), with calls, rows, block I/O, I/O and temp times, execution and planning time statistics, JIT, WAL and parallel workers.',
  defaultIntervalSeconds: 300,
  defaultRetentionDays: 14,
  rowLimit: 500,
  privileges:
    'Needs the pg_stat_statements extension in the instance’s database; without pg_monitor (pg_read_all_stats) other users’ query texts are hidden.',
  unavailable: statementsUnavailable,
  queryTexts: `select queryid, query from {{pg_stat_statements}} where queryid = any($1::bigint[])`,
  columns: [
    key('queryid', 'bigint', 'Statement fingerprint.'),
    key('usename', 'text', 'User who ran it.'),
    key('datname', 'text', 'Database it ran in.'),
    key('toplevel', 'boolean', 'Run at top level, not inside a function (null before 1.9).'),
    counter('calls', 'Executions.'),
    counter('total_exec_time', 'Time executing.', 'ms'),
    counter(
      'total_plan_time',
      'Time planning, with pg_stat_statements.track_planning (null before 1.8).',
      'ms',
    ),
    counter('plans', 'Times planned (null before 1.8).'),
    counter('rows', 'Rows returned or affected.'),
    ...blockCounters.map((name) => counter(name, `${name.replaceAll('_', ' ')}.`, 'blocks')),
    counter('blk_read_time', 'Time reading blocks (shared + local from 1.11; track_io_timing).', 'ms'),
    counter('blk_write_time', 'Time writing blocks (shared + local from 1.11; track_io_timing).', 'ms'),
    counter('wal_records', 'WAL records generated (null before 1.8).'),
    counter('wal_fpi', 'WAL full-page images (null before 1.8).'),
    counter('wal_bytes', 'WAL bytes generated (null before 1.8).', 'bytes'),
    statsReset,
    ...depth.map((d) => d.column),
  ],
  variants: shapes.map(({ when, source, shape }) => ({
    when,
    source,
    sql: statementsSelect(shape),
    counters: countersSelect(shape),
  })),
}

export const statementsInfo: MetricGroup = {
  name: 'statements_info',
  scope: 'instance',
  table: 'sn_statements_info',
  help: 'pg_stat_statements itself: statements tracked against pg_stat_statements.max, and evictions (dealloc), which explain statements that vanish from the statements group.',
  defaultIntervalSeconds: 300,
  defaultRetentionDays: 30,
  privileges: 'Needs the pg_stat_statements extension in the instance’s database.',
  unavailable: statementsUnavailable,
  columns: [
    gauge('entries', 'bigint', 'Statements tracked now.'),
    gauge('max_entries', 'integer', 'pg_stat_statements.max: statements tracked at most.'),
    counter('dealloc', 'Times least-used statements were evicted to make room (null before 1.9).'),
    statsReset,
  ],
  variants: [
    {
      when: (c) => hasColumn(c, pss, 'toplevel'),
      source: 'pg_stat_statements, pg_stat_statements_info (1.9 and later, PostgreSQL ≥ 14)',
      sql: `select (select count(*) from {{pg_stat_statements}}(false)) as entries,
                   current_setting('pg_stat_statements.max')::integer as max_entries, dealloc, stats_reset
              from {{pg_stat_statements}}_info`,
    },
    {
      when: () => true,
      source: 'pg_stat_statements (before 1.9: no eviction count)',
      sql: `select (select count(*) from {{pg_stat_statements}}(false)) as entries,
                   current_setting('pg_stat_statements.max')::integer as max_entries, null::bigint as dealloc,
                   null::timestamptz as stats_reset`,
    },
  ],
}

export const settings: MetricGroup = {
  name: 'settings',
  scope: 'instance',
  table: 'sn_settings_changes',
  help: 'Server settings (pg_settings). The first snapshot stores all of them; later ones store only the settings that changed, with their previous value.',
  defaultIntervalSeconds: 900,
  defaultRetentionDays: 365,
  storage: 'changes',
  privileges:
    'Without pg_monitor (pg_read_all_settings) superuser-only settings such as data_directory are missing.',
  columns: [
    key('name', 'text', 'Setting.'),
    label('setting', 'text', 'Value (in its unit).'),
    label('previous_setting', 'text', 'Value before this change (null on first sight).'),
    label('unit', 'text', 'Unit of the value.'),
    label('source', 'text', 'Where the value comes from (default, configuration file, ...).'),
    label('pending_restart', 'boolean', 'Changed in the file but needs a restart.'),
  ],
  variants: [
    {
      when: () => true,
      source: 'pg_settings',
      sql: `select name::text, setting, null::text as previous_setting, unit, source, pending_restart
              from pg_settings`,
    },
  ],
}
