// Replication (grafana/dashboards/replication-monitoring.json): on a primary, each standby's state
// and lag in bytes and seconds (write, flush, replay), and the replication slots with the WAL they
// retain; on a standby, its WAL receiver and replay delay.
import { Board, type DashboardDefinition } from '../board.ts'
import { instanceIs, lastPerInterval } from '../sql.ts'
import { instanceVariable } from '../variables.ts'

const standbyKeys = ['application_name', 'client_addr']
const standby = `application_name || coalesce(' ' || host(client_addr), '')`

const latestOf = (group: string) => `with latest as (
  select snap_id, taken_at from sn_stat_snapshot
   where ${instanceIs()} and group_name = '${group}' and status = 'ok' and $__timeFilter(taken_at)
   order by taken_at desc limit 1)`

const perStandby = (
  columns: string[],
  select: string,
) => `with ${lastPerInterval({ table: 'sn_stat_replication', keys: standbyKeys, columns })}
select to_timestamp(bucket) as time, ${select}
  from samples where to_timestamp(bucket) >= $__timeFrom()::timestamptz order by 1`

const standbys = (board: Board): Board =>
  board
    .table('Standbys', {
      description: 'Standbys streaming from this instance at the last sample, with lag in bytes and seconds.',
      sql: `${latestOf('replication')}
select r.application_name as standby, host(r.client_addr) as address, r.state, r.sync_state as sync, r.usename as "user",
       r.sent_lag_bytes as "not sent", r.write_lag_bytes as "not written", r.flush_lag_bytes as "not flushed",
       r.replay_lag_bytes as "not replayed", r.write_lag_seconds as "write lag", r.flush_lag_seconds as "flush lag",
       r.replay_lag_seconds as "replay lag", r.backend_start as "connected since"
  from sn_stat_replication r join latest l on l.snap_id = r.snap_id and l.taken_at = r.taken_at
 order by r.replay_lag_bytes desc nulls last`,
      height: 6,
      mayBeEmpty: 'no standby streams from this instance (a standalone server or a standby)',
      fieldUnits: {
        'not sent': 'bytes',
        'not written': 'bytes',
        'not flushed': 'bytes',
        'not replayed': 'bytes',
        'write lag': 's',
        'flush lag': 's',
        'replay lag': 's',
      },
    })
    .timeseries('Replay lag in bytes', {
      description: 'WAL each standby has not replayed yet.',
      sql: perStandby(['replay_lag_bytes'], `${standby} as metric, replay_lag_bytes as value`),
      unit: 'bytes',
      mayBeEmpty: 'no standby streams from this instance',
    })
    .timeseries('Replay lag in seconds', {
      description: 'Time between a commit on this primary and its replay on each standby (replay_lag).',
      sql: perStandby(['replay_lag_seconds'], `${standby} as metric, replay_lag_seconds as value`),
      unit: 's',
      mayBeEmpty: 'no standby streams from this instance',
    })
    .timeseries('Write, flush and replay lag', {
      description: 'Per standby, the three lags: network and disk (write, flush) against apply (replay).',
      sql: perStandby(
        ['write_lag_seconds', 'flush_lag_seconds', 'replay_lag_seconds'],
        `${standby} || ' write' as metric, write_lag_seconds as value from samples
   where to_timestamp(bucket) >= $__timeFrom()::timestamptz
  union all
  select to_timestamp(bucket), ${standby} || ' flush', flush_lag_seconds from samples
   where to_timestamp(bucket) >= $__timeFrom()::timestamptz
  union all
  select to_timestamp(bucket), ${standby} || ' replay', replay_lag_seconds`,
      ),
      unit: 's',
      width: 24,
      mayBeEmpty: 'no standby streams from this instance',
    })
    .table('Replication slots', {
      description:
        'Slots at the last sample: active or not, WAL they retain, wal_status (lost: the consumer must be rebuilt), xmin held back.',
      sql: `${latestOf('replication_slots')}
select s.slot_name as slot, s.slot_type as type, s.active, s.wal_status as "WAL status", s.retained_bytes as retained,
       s.safe_wal_size as "safe WAL size", s.xmin_age as "xmin age", s.catalog_xmin_age as "catalog xmin age",
       s.datname as database, s.plugin
  from sn_replication_slots s join latest l on l.snap_id = s.snap_id and l.taken_at = s.taken_at
 order by s.retained_bytes desc nulls last`,
      height: 6,
      mayBeEmpty: 'the instance has no replication slot',
      fieldUnits: { retained: 'bytes', 'safe WAL size': 'bytes' },
    })

const slotsAndReceiver = (board: Board): Board =>
  board
    .timeseries('WAL retained per slot', {
      description: 'WAL each slot keeps in pg_wal.',
      sql: `with ${lastPerInterval({ table: 'sn_replication_slots', keys: ['slot_name'], columns: ['retained_bytes'] })}
select to_timestamp(bucket) as time, slot_name as metric, retained_bytes as value from samples
 where to_timestamp(bucket) >= $__timeFrom()::timestamptz order by 1`,
      unit: 'bytes',
      mayBeEmpty: 'the instance has no replication slot',
    })
    .table('WAL receiver', {
      description:
        'On a standby: the WAL receiver at the last sample (streaming, from which primary, slot, timeline).',
      sql: `${latestOf('wal_receiver')}
select w.status, w.sender_host || ':' || w.sender_port as primary, w.slot_name as slot, w.received_tli as timeline,
       w.replay_lag_bytes as "received, not replayed", w.replay_delay_seconds as "replay delay",
       w.last_msg_receipt_time as "last message"
  from sn_stat_wal_receiver w join latest l on l.snap_id = w.snap_id and l.taken_at = w.taken_at`,
      height: 5,
      mayBeEmpty: 'the instance is not a standby',
      fieldUnits: { 'received, not replayed': 'bytes', 'replay delay': 's' },
    })
    .timeseries('Standby replay delay', {
      description:
        'On a standby: how late replay is (age of the last replayed transaction while WAL waits), and bytes waiting.',
      sql: `with ${lastPerInterval({ table: 'sn_stat_wal_receiver', keys: [], columns: ['replay_delay_seconds', 'replay_lag_bytes'] })}
select to_timestamp(bucket) as time, replay_delay_seconds as "replay delay (s)", replay_lag_bytes as "bytes to replay"
  from samples where to_timestamp(bucket) >= $__timeFrom()::timestamptz order by 1`,
      mayBeEmpty: 'the instance is not a standby',
    })

export const replicationMonitoring: DashboardDefinition = {
  file: 'replication-monitoring.json',
  answers:
    'Which standbys stream from this primary, how far behind are they (bytes and seconds, write/flush/replay), which slots retain WAL; on a standby, is the WAL receiver streaming and how late is replay?',
  build: () =>
    [standbys, slotsAndReceiver].reduce(
      (board, part) => part(board),
      new Board({
        uid: 'pga-replication',
        title: 'pganalytics / Replication',
        description:
          'Standbys and their lag, synchronous state, replication slots and retained WAL, the WAL receiver.',
        variables: [instanceVariable()],
      }),
    ),
}
