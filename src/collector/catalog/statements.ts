// pg_stat_statements (top-N by total time, query texts stored once per queryid) and settings
// (stored only when they change). pg_stat_statements renamed total_time to total_exec_time in
// 1.8 and blk_read_time to shared_blk_read_time in 1.11; the variants keep the 1.8 names.
import { counter, key, label, statsReset } from './columns.ts'
import { hasColumn, type MetricGroup } from './types.ts'

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

/** `{{pg_stat_statements}}` is replaced by the view qualified with the extension's schema. */
const statementsSelect = (parts: {
  exec: string
  plan: string
  toplevel: string
  ioTimes: string
  wal: string
  reset: string
}) => `
  select s.queryid, r.rolname::text as usename, d.datname::text, ${parts.toplevel}, s.calls,
         ${parts.exec}, ${parts.plan}, s.rows, ${blockCounters.map((c) => `s.${c}`).join(', ')},
         ${parts.ioTimes}, ${parts.wal}, ${parts.reset}
    from {{pg_stat_statements}} s
    left join pg_roles r on r.oid = s.userid
    left join pg_database d on d.oid = s.dbid
   where s.queryid is not null
   order by 6 desc -- total_exec_time, whatever its source column
   limit $1`

/** Columns named as in pg_stat_statements 1.8 and later. */
const columns18 = {
  exec: 's.total_exec_time',
  plan: 's.total_plan_time, s.plans',
  wal: 's.wal_records, s.wal_fpi, s.wal_bytes::bigint',
}
const resetInfo = `(select stats_reset from {{pg_stat_statements}}_info) as stats_reset`

export const statements: MetricGroup = {
  name: 'statements',
  scope: 'instance',
  table: 'sn_stat_statements',
  help: 'pg_stat_statements: the top statements by total execution time (per-instance cap), with calls, rows, block I/O, I/O time and WAL.',
  defaultIntervalSeconds: 300,
  defaultRetentionDays: 14,
  rowLimit: 500,
  privileges:
    'Needs the pg_stat_statements extension in the instance’s database; without pg_monitor (pg_read_all_stats) other users’ query texts are hidden.',
  unavailable: (c) =>
    c.statementsSchema
      ? null
      : 'pg_stat_statements is not installed in the monitored database (CREATE EXTENSION pg_stat_statements)',
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
  ],
  variants: [
    {
      when: (c) => hasColumn(c, pss, 'shared_blk_read_time'),
      source: 'pg_stat_statements ≥ 1.11 (PostgreSQL ≥ 17)',
      sql: statementsSelect({
        ...columns18,
        toplevel: 's.toplevel',
        ioTimes: `s.shared_blk_read_time + s.local_blk_read_time as blk_read_time,
                  s.shared_blk_write_time + s.local_blk_write_time as blk_write_time`,
        reset: resetInfo,
      }),
    },
    {
      when: (c) => hasColumn(c, pss, 'toplevel'),
      source: 'pg_stat_statements 1.9–1.10 (PostgreSQL 14–16)',
      sql: statementsSelect({
        ...columns18,
        toplevel: 's.toplevel',
        ioTimes: 's.blk_read_time, s.blk_write_time',
        reset: resetInfo,
      }),
    },
    {
      when: (c) => hasColumn(c, pss, 'total_exec_time'),
      source: 'pg_stat_statements 1.8 (PostgreSQL 13)',
      sql: statementsSelect({
        ...columns18,
        toplevel: 'null::boolean as toplevel',
        ioTimes: 's.blk_read_time, s.blk_write_time',
        reset: 'null::timestamptz as stats_reset',
      }),
    },
    {
      when: () => true,
      source: 'pg_stat_statements ≤ 1.7 (PostgreSQL ≤ 12)',
      sql: statementsSelect({
        exec: 's.total_time as total_exec_time',
        plan: 'null::double precision as total_plan_time, null::bigint as plans',
        toplevel: 'null::boolean as toplevel',
        ioTimes: 's.blk_read_time, s.blk_write_time',
        wal: 'null::bigint as wal_records, null::bigint as wal_fpi, null::bigint as wal_bytes',
        reset: 'null::timestamptz as stats_reset',
      }),
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
