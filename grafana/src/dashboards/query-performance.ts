// Query performance: the statements that cost the most over the picked range (pg_stat_statements),
// by total time, calls, mean time and I/O, with their text, and the history of one statement.
// Counters are increases over the range with the read API's reset-safe rule; texts come through
// pga_statement_text(), visible to members of pganalytics_grafana_query_text only.
import { Board, type DashboardDefinition } from '../board.ts'
import { increases, inRange, instanceIs, rated } from '../sql.ts'
import { databaseVariable, instanceVariable, statementVariable } from '../variables.ts'

const series = ['queryid', 'usename', 'datname', 'toplevel']
const counters = [
  'calls',
  'total_exec_time',
  'total_plan_time',
  'rows',
  'shared_blks_hit',
  'shared_blks_read',
  'shared_blks_written',
  'temp_blks_read',
  'temp_blks_written',
  'blk_read_time',
  'blk_write_time',
  'wal_bytes',
]

/** Block size of the instance, from its settings (8 kB unless built otherwise). */
const blockSize = `(select coalesce((select setting::int from sn_settings_changes
                    where ${instanceIs()} and name = 'block_size' order by taken_at desc limit 1), 8192))`

const window = increases({
  table: 'sn_stat_statements',
  keys: series,
  counters,
  reset: true,
  where: 'datname in ($database)',
})

/** Statements over the range, one row per statement (all users, databases and levels summed). */
const perStatement = `${window},
statements as (
  select queryid, string_agg(distinct usename, ', ') as users, string_agg(distinct datname, ', ') as databases,
         ${counters.map((c) => `sum(${c}) as ${c}`).join(', ')}
    from increases group by queryid)`

const textOf = `regexp_replace(pga_statement_text('$instance', queryid), '\\s+', ' ', 'g')`

const topBy = (order: string, value: string, label: string) => `${perStatement}
select ${value} as "${label}", calls, ${textOf} as query, queryid::text as queryid
  from statements where calls > 0 order by ${order} desc nulls last limit 10`

const statements = (board: Board): Board =>
  board
    .table('Top statements by total time', {
      description:
        'Every cost of the busiest statements over the range: calls, total and mean execution time, planning, rows, cache hit ratio, bytes read and written to temp, I/O time, WAL. Sort by any column.',
      sql: `${perStatement}
select queryid::text as queryid, users, databases, calls, total_exec_time as "total time",
       total_exec_time / nullif(calls, 0) as "mean time", total_plan_time as "planning time", rows,
       shared_blks_hit::float8 / nullif(shared_blks_hit + shared_blks_read, 0) as "hit ratio",
       shared_blks_read * ${blockSize} as "read", temp_blks_written * ${blockSize} as "temp written",
       blk_read_time + blk_write_time as "I/O time", wal_bytes as "WAL", ${textOf} as query
  from statements where calls > 0 order by total_exec_time desc nulls last limit 50`,
      height: 12,
      fieldUnits: {
        'total time': 'ms',
        'mean time': 'ms',
        'planning time': 'ms',
        'hit ratio': 'percentunit',
        read: 'bytes',
        'temp written': 'bytes',
        'I/O time': 'ms',
        WAL: 'bytes',
      },
    })
    .table('Top statements by calls', {
      description: 'Most executed statements over the range.',
      sql: topBy('calls', 'calls', 'executions'),
      width: 8,
    })
    .table('Top statements by mean time', {
      description: 'Slowest statements per call over the range.',
      sql: topBy(
        'total_exec_time / nullif(calls, 0)',
        'total_exec_time / nullif(calls, 0)',
        'mean time (ms)',
      ),
      width: 8,
    })
    .table('Top statements by I/O', {
      description: 'Statements reading the most blocks from outside shared buffers, and writing temp files.',
      sql: topBy(
        'shared_blks_read + temp_blks_read + temp_blks_written',
        `(shared_blks_read + temp_blks_read + temp_blks_written) * ${blockSize}`,
        'I/O bytes',
      ),
      width: 8,
    })
    .timeseries('Execution time per second, top 10 statements', {
      description:
        'Seconds of execution per second for the ten statements with the most time over the range (1 = one backend busy all the time).',
      sql: `${rated({ table: 'sn_stat_statements', keys: series, counters: ['total_exec_time'], reset: true, where: 'datname in ($database)' })},
top as (select queryid from rated group by queryid order by sum(total_exec_time) desc nulls last limit 10)
select time, left(${textOf}, 60) || ' (' || queryid || ')' as metric, sum(total_exec_time) / 1000 as value
  from rated where ${inRange()} and queryid in (select queryid from top)
 group by time, queryid order by time`,
      unit: 's',
      width: 24,
    })
    .timeseries('Selected statement: calls and mean time', {
      description: 'Calls per second and mean execution time per call of the statement picked above.',
      sql: `${rated({ table: 'sn_stat_statements', keys: series, counters: ['calls', 'total_exec_time'], reset: true, where: `queryid::text = '$queryid'` })}
select time, sum(calls) as "calls/s", sum(total_exec_time) / nullif(sum(calls), 0) as "mean time (ms)"
  from rated where ${inRange()} group by time order by time`,
    })
    .timeseries('Selected statement: rows and blocks', {
      description: 'Rows per second and blocks hit and read per second of the statement picked above.',
      sql: `${rated({ table: 'sn_stat_statements', keys: series, counters: ['rows', 'shared_blks_hit', 'shared_blks_read'], reset: true, where: `queryid::text = '$queryid'` })}
select time, sum(rows) as "rows/s", sum(shared_blks_hit) as "blocks hit/s", sum(shared_blks_read) as "blocks read/s"
  from rated where ${inRange()} group by time order by time`,
    })

export const queryPerformance: DashboardDefinition = {
  file: 'query-performance.json',
  answers:
    'Which statements cost the most time, calls, I/O over the picked range, what do they say, and how did one of them behave over time?',
  build: () =>
    [statements].reduce(
      (board, part) => part(board),
      new Board({
        uid: 'pga-query-performance',
        title: 'pganalytics / Query performance',
        description:
          'pg_stat_statements over the picked range: top statements with their text, and one statement over time.',
        variables: [instanceVariable(), databaseVariable(), statementVariable()],
      }),
    ),
}
