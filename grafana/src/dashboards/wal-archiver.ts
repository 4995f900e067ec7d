// WAL and archiving (grafana/dashboards/wal-archiver.json): how much WAL is written and why (full
// page images), whether archiving keeps up (rate, failures, backlog of .ready segments, age of the
// last archived segment), and what holds WAL back (pg_wal size, replication slots).
import { Board, type DashboardDefinition } from '../board.ts'
import { increases, inRange, instanceIs, lastPerInterval, rated } from '../sql.ts'
import { instanceVariable } from '../variables.ts'

const latestArchiver = `with latest as (
  select snap_id, taken_at from sn_stat_snapshot
   where ${instanceIs()} and group_name = 'archiver' and status = 'ok' and $__timeFilter(taken_at)
   order by taken_at desc limit 1)
select`
const fromLatest =
  'from sn_stat_archiver a join latest l on l.snap_id = a.snap_id and l.taken_at = a.taken_at'

const archiving = (board: Board): Board =>
  board
    .stat('Segments waiting', {
      description: 'WAL segments waiting to be archived (.ready files) at the last sample; needs pg_monitor.',
      sql: `${latestArchiver} a.ready_files as "segments waiting" ${fromLatest}`,
      thresholds: [
        [10, 'orange'],
        [100, 'red'],
      ],
      width: 6,
    })
    .stat('Last archived', {
      description:
        'Age of the last successfully archived segment (high while WAL is written: archiving stalls).',
      sql: `${latestArchiver} extract(epoch from now() - a.last_archived_time) as "seconds ago" ${fromLatest}`,
      unit: 's',
      width: 6,
    })
    .stat('Archive failures in range', {
      description: 'Failed archive_command runs over the range.',
      sql: `${increases({ table: 'sn_stat_archiver', keys: [], counters: ['failed_count', 'archived_count'], reset: true })}
select failed_count as failures from increases`,
      thresholds: [[1, 'red']],
      width: 6,
    })
    .stat('archive_mode', {
      description: 'archive_mode of the instance at the last sample.',
      sql: `${latestArchiver} a.archive_mode ${fromLatest}`,
      width: 6,
    })
    .timeseries('WAL generated per second', {
      description: 'WAL bytes per second (rate of the WAL position; on a standby, of WAL received).',
      sql: `${rated({ table: 'sn_stat_wal', keys: [], counters: ['lsn_bytes'] })}
select time, lsn_bytes as "WAL" from rated where ${inRange()} order by time`,
      unit: 'Bps',
    })
    .timeseries('WAL records and full-page images per second', {
      description:
        'Records and full-page images per second; many FPIs right after checkpoints are normal, always many means checkpoints too close.',
      sql: `${rated({ table: 'sn_stat_wal', keys: [], counters: ['wal_records', 'wal_fpi', 'wal_buffers_full'], reset: true })}
select time, wal_records as records, wal_fpi as "full-page images", wal_buffers_full as "WAL buffers full"
  from rated where ${inRange()} order by time`,
    })
    .timeseries('Archived and failed per minute', {
      description: 'Segments archived and archive_command failures per minute.',
      sql: `${rated({ table: 'sn_stat_archiver', keys: [], counters: ['archived_count', 'failed_count'], reset: true })}
select time, archived_count * 60 as archived, failed_count * 60 as failed from rated where ${inRange()} order by time`,
    })
    .timeseries('Archive backlog', {
      description:
        'Segments waiting to be archived over time (a rising line: archiving cannot keep up or fails).',
      sql: `with ${lastPerInterval({ table: 'sn_stat_archiver', keys: [], columns: ['ready_files', 'last_archived_time'] })}
select to_timestamp(bucket) as time, ready_files as "segments waiting",
       extract(epoch from taken_at - last_archived_time) as "seconds since last archived"
  from samples where to_timestamp(bucket) >= $__timeFrom()::timestamptz order by 1`,
    })
    .table('Last archived and failed segments', {
      description: 'The last segment archived and the last failure, at the last sample.',
      sql: `${latestArchiver} a.last_archived_wal as "last archived", a.last_archived_time as "archived at",
       a.last_failed_wal as "last failed", a.last_failed_time as "failed at", a.archived_count as archived,
       a.failed_count as failed, a.stats_reset as "counters since" ${fromLatest}`,
      height: 5,
    })

const walRetention = (board: Board): Board =>
  board
    .timeseries('pg_wal size', {
      description: 'Size and segments of the WAL directory (storage group, needs pg_monitor).',
      sql: `with ${lastPerInterval({ table: 'sn_storage', keys: ['kind', 'name'], columns: ['size_bytes', 'files'], where: `kind = 'wal_directory'` })}
select to_timestamp(bucket) as time, size_bytes as "pg_wal" from samples
 where to_timestamp(bucket) >= $__timeFrom()::timestamptz order by 1`,
      unit: 'bytes',
    })
    .timeseries('WAL retained by replication slots', {
      description:
        'WAL each replication slot keeps from being removed; an inactive slot grows until the disk fills.',
      sql: `with ${lastPerInterval({ table: 'sn_replication_slots', keys: ['slot_name'], columns: ['retained_bytes'] })}
select to_timestamp(bucket) as time, slot_name as metric, retained_bytes as value from samples
 where to_timestamp(bucket) >= $__timeFrom()::timestamptz order by 1`,
      unit: 'bytes',
      mayBeEmpty: 'the instance has no replication slot',
    })

export const walArchiver: DashboardDefinition = {
  file: 'wal-archiver.json',
  answers:
    'How much WAL is generated and why; does archiving keep up (rate, failures, backlog, last success); what retains WAL in pg_wal?',
  build: () =>
    [archiving, walRetention].reduce(
      (board, part) => part(board),
      new Board({
        uid: 'pga-wal-archiver',
        title: 'pganalytics / WAL and archiving',
        description:
          'WAL generation, archiving rate, failures and backlog, WAL retention by pg_wal and slots.',
        variables: [instanceVariable()],
      }),
    ),
}
