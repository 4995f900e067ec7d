// Instance overview: one instance's health now and its activity over the range: transactions,
// tuples, cache hits, temp files, deadlocks, sessions, sizes, WAL, checkpoints.
import { Board, type DashboardDefinition } from '../board.ts'
import { increases, inRange, instanceIs, lastSnapshots, rated } from '../sql.ts'
import { databaseVariable, instanceVariable } from '../variables.ts'

const inDatabases = 'datname in ($database)'
const database = (counters: string[], columns: string[] = []) =>
  rated({ table: 'sn_stat_database', keys: ['datname'], counters, columns, reset: true, where: inDatabases })

/** The newest database snapshot of the instance in the range. */
const latestDatabase = `with latest as (
  select snap_id, taken_at from sn_stat_snapshot
   where ${instanceIs()} and group_name = 'database' and status = 'ok' and $__timeFilter(taken_at)
   order by taken_at desc limit 1)
select`

const healthNow = (board: Board): Board =>
  board
    .stat('Version', {
      description: 'Server version from the last capability probe.',
      sql: `select capabilities ->> 'serverVersion' as version from pga_instances where id = '$instance'`,
    })
    .stat('Last collection', {
      description: 'Seconds since the last successful collection of any group.',
      sql: `select extract(epoch from now() - max(taken_at)) as "seconds ago" from sn_stat_snapshot
               where ${instanceIs()} and status = 'ok'`,
      unit: 's',
      thresholds: [
        [180, 'orange'],
        [600, 'red'],
      ],
    })
    .stat('Connections used', {
      description: 'Backends now against max_connections.',
      sql: `${latestDatabase} sum(d.numbackends)::float8 / nullif((
                 select setting::int from sn_settings_changes where ${instanceIs()} and name = 'max_connections'
                  order by taken_at desc limit 1), 0) as "connections used"
                from sn_stat_database d join latest l on l.snap_id = d.snap_id and l.taken_at = d.taken_at`,
      unit: 'percentunit',
      thresholds: [
        [0.75, 'orange'],
        [0.9, 'red'],
      ],
    })
    .stat('Cache hits (range)', {
      description:
        'Blocks found in shared buffers over the range, selected databases (reset-safe increases).',
      sql: `${increases({ table: 'sn_stat_database', keys: ['datname'], counters: ['blks_hit', 'blks_read'], reset: true, where: inDatabases })}
select sum(blks_hit)::float8 / nullif(sum(blks_hit) + sum(blks_read), 0) as "cache hit ratio" from increases`,
      unit: 'percentunit',
      decimals: 2,
    })
    .stat('Wraparound', {
      description: 'Oldest datfrozenxid as a share of the 2^31 transaction IDs before wraparound protection.',
      sql: `${latestDatabase} max(d.xid_age)::float8 / 2147483648 as wraparound
                from sn_stat_database d join latest l on l.snap_id = d.snap_id and l.taken_at = d.taken_at`,
      unit: 'percentunit',
      thresholds: [
        [0.5, 'orange'],
        [0.8, 'red'],
      ],
    })
    .stat('Oldest transaction', {
      description: 'Age of the oldest open transaction of a client, at the last activity sample.',
      sql: `with ${lastSnapshots('activity')}
select max(a.max_xact_age_seconds) as "oldest transaction"
  from sn_stat_activity a join (select * from snaps order by taken_at desc limit 1) s
    on s.snap_id = a.snap_id and s.taken_at = a.taken_at
 where a.backend_type = 'client backend'`,
      unit: 's',
      thresholds: [
        [300, 'orange'],
        [3600, 'red'],
      ],
    })

const throughput = (board: Board): Board =>
  board
    .row('Throughput')
    .timeseries('Transactions per second', {
      description: 'Commits and rollbacks per second, selected databases.',
      sql: `${database(['xact_commit', 'xact_rollback'])}
select time, sum(xact_commit) as commits, sum(xact_rollback) as rollbacks from rated where ${inRange()} group by time order by time`,
      unit: 'ops',
    })
    .timeseries('Tuples per second', {
      description: 'Rows returned, fetched, inserted, updated and deleted per second.',
      sql: `${database(['tup_returned', 'tup_fetched', 'tup_inserted', 'tup_updated', 'tup_deleted'])}
select time, sum(tup_returned) as returned, sum(tup_fetched) as fetched, sum(tup_inserted) as inserted,
       sum(tup_updated) as updated, sum(tup_deleted) as deleted
  from rated where ${inRange()} group by time order by time`,
      unit: 'cps',
    })
    .timeseries('Cache hit ratio', {
      description: 'Blocks found in shared buffers against blocks read, per interval.',
      sql: `${database(['blks_hit', 'blks_read'])}
select time, sum(blks_hit) / nullif(sum(blks_hit) + sum(blks_read), 0) as "hit ratio"
  from rated where ${inRange()} group by time order by time`,
      unit: 'percentunit',
      max: 1,
    })
    .timeseries('Blocks read and hit per second', {
      description:
        'Block reads that went to the OS (page cache or disk) and those served from shared buffers.',
      sql: `${database(['blks_hit', 'blks_read'])}
select time, sum(blks_read) as read, sum(blks_hit) as hit from rated where ${inRange()} group by time order by time`,
      unit: 'short',
    })
    .timeseries('Temporary files', {
      description: 'Bytes written to temporary files per second (sorts and hashes larger than work_mem).',
      sql: `${database(['temp_bytes', 'temp_files'])}
select time, sum(temp_bytes) as "temp bytes" from rated where ${inRange()} group by time order by time`,
      unit: 'Bps',
    })
    .timeseries('Deadlocks and conflicts per minute', {
      description: 'Deadlocks detected and queries cancelled by recovery conflicts (standbys), per minute.',
      sql: `${database(['deadlocks', 'conflicts'])}
select time, sum(deadlocks) * 60 as deadlocks, sum(conflicts) * 60 as "recovery conflicts"
  from rated where ${inRange()} group by time order by time`,
      unit: 'short',
    })

const sessionsAndSize = (board: Board): Board =>
  board
    .row('Sessions and size')
    .timeseries('Client sessions by state', {
      description: 'Client backends by state (active, idle, idle in transaction, ...).',
      sql: `with ${lastSnapshots('activity')}
select to_timestamp(s.bucket) as time, coalesce(a.state, 'unknown') as metric, sum(a.sessions) as value
  from snaps s join sn_stat_activity a on a.snap_id = s.snap_id and a.taken_at = s.taken_at
 where a.${instanceIs()} and a.backend_type = 'client backend' and (a.datname in ($database) or a.datname is null)
 group by 1, 2 order by 1`,
      stack: true,
    })
    .timeseries('Connections per database', {
      description: 'Backends connected to each selected database.',
      sql: `${database([], ['numbackends'])}
select time, datname as metric, numbackends as value from rated where ${inRange()} order by time`,
    })
    .timeseries('Database size', {
      description: 'Size of each selected database (database_size group, every 5 minutes by default).',
      sql: `${rated({ table: 'sn_database_size', keys: ['datname'], columns: ['bytes'], where: inDatabases })}
select time, datname as metric, bytes as value from rated where ${inRange()} order by time`,
      unit: 'bytes',
    })
    .timeseries('WAL generated per second', {
      description: 'WAL bytes written per second (rate of the WAL position).',
      sql: `${rated({ table: 'sn_stat_wal', keys: [], counters: ['lsn_bytes'] })}
select time, lsn_bytes as "WAL" from rated where ${inRange()} order by time`,
      unit: 'Bps',
    })
    .timeseries('Checkpoints per minute', {
      description: 'Scheduled (checkpoint_timeout) and requested (max_wal_size, CHECKPOINT) checkpoints.',
      sql: `${rated({ table: 'sn_stat_checkpointer', keys: [], counters: ['num_timed', 'num_requested'], reset: true })}
select time, num_timed * 60 as scheduled, num_requested * 60 as requested from rated where ${inRange()} order by time`,
    })

export const instanceOverview: DashboardDefinition = {
  file: 'instance-overview.json',
  answers:
    'How is this instance doing now (connections, cache hits, wraparound, oldest transaction, lag) and what did it do over time?',
  build: () =>
    [healthNow, throughput, sessionsAndSize].reduce(
      (board, part) => part(board),
      new Board({
        uid: 'pga-instance-overview',
        title: 'pganalytics / Instance overview',
        description:
          'One instance: health now, throughput, sessions, sizes, WAL and checkpoints over the range.',
        variables: [instanceVariable(), databaseVariable()],
      }),
    ),
}
