// Checkpoints and the background writer (grafana/dashboards/checkpoint-recovery.json, as the
// planning board names it): how often checkpoints run and why, how long they write and sync,
// who writes buffers (checkpointer, background writer, backends). The checkpointer group already
// maps PostgreSQL 17's pg_stat_checkpointer and older pg_stat_bgwriter onto the same columns;
// backend writes moved to pg_stat_io in 17, so both sources are shown.
import { Board, type DashboardDefinition } from '../board.ts'
import { increases, inRange, ratedCtes } from '../sql.ts'
import { instanceVariable } from '../variables.ts'

const checkpointer = (counters: string[], name = 'rated') =>
  ratedCtes({ table: 'sn_stat_checkpointer', keys: [], counters, reset: true }, name)
const bgwriter = (counters: string[], name = 'rated') =>
  ratedCtes({ table: 'sn_stat_bgwriter', keys: [], counters, reset: true }, name)

const checkpoints = (board: Board): Board =>
  board
    .stat('Requested checkpoints', {
      description:
        'Share of checkpoints over the range that were requested (max_wal_size reached, CHECKPOINT) rather than scheduled: high means max_wal_size is too small.',
      sql: `${increases({ table: 'sn_stat_checkpointer', keys: [], counters: ['num_timed', 'num_requested'], reset: true })}
select num_requested::float8 / nullif(num_timed + num_requested, 0) as requested from increases`,
      unit: 'percentunit',
      thresholds: [[0.3, 'orange']],
      width: 6,
    })
    .stat('Checkpoints in range', {
      description: 'Checkpoints started over the range (scheduled and requested).',
      sql: `${increases({ table: 'sn_stat_checkpointer', keys: [], counters: ['num_timed', 'num_requested'], reset: true })}
select num_timed + num_requested as checkpoints from increases`,
      width: 6,
    })
    .stat('Backend fsyncs in range', {
      description: 'fsync calls backends had to make themselves (should be 0; null from PostgreSQL 17).',
      sql: `${increases({ table: 'sn_stat_bgwriter', keys: [], counters: ['buffers_backend_fsync'], reset: true })}
select buffers_backend_fsync as "backend fsyncs" from increases`,
      thresholds: [[1, 'red']],
      width: 6,
    })
    .stat('Times the background writer stopped', {
      description: 'Cleaning scans stopped for writing bgwriter_lru_maxpages buffers, over the range.',
      sql: `${increases({ table: 'sn_stat_bgwriter', keys: [], counters: ['maxwritten_clean'], reset: true })}
select maxwritten_clean as "maxwritten_clean" from increases`,
      width: 6,
    })
    .timeseries('Checkpoints per minute', {
      description:
        'Scheduled (checkpoint_timeout) and requested checkpoints, and restartpoints on a standby (17+).',
      sql: `with ${checkpointer(['num_timed', 'num_requested', 'restartpoints_timed', 'restartpoints_req'])}
select time, num_timed * 60 as scheduled, num_requested * 60 as requested,
       restartpoints_timed * 60 as "restartpoints scheduled", restartpoints_req * 60 as "restartpoints requested"
  from rated where ${inRange()} order by time`,
    })
    .timeseries('Checkpoint write and sync time', {
      description:
        'Milliseconds per checkpoint spent writing files and syncing them (intervals with a checkpoint).',
      sql: `with ${checkpointer(['num_timed', 'num_requested', 'write_time', 'sync_time'])}
select time, write_time / nullif(num_timed + num_requested, 0) as "write per checkpoint",
       sync_time / nullif(num_timed + num_requested, 0) as "sync per checkpoint"
  from rated where ${inRange()} order by time`,
      unit: 'ms',
    })
    .timeseries('Buffers written per second', {
      description:
        'Buffers written by checkpoints, by the background writer (cleaning ahead of backends) and by backends themselves (up to 16; see the I/O panel from 16).',
      sql: `with ${checkpointer(['buffers_written'], 'c')}, ${bgwriter(['buffers_clean', 'buffers_backend'], 'b')}
select coalesce(c.time, b.time) as time, c.buffers_written as checkpointer, b.buffers_clean as "background writer",
       b.buffers_backend as backends
  from c full join b on b.time = c.time
 where coalesce(c.time, b.time) >= $__timeFrom()::timestamptz order by 1`,
    })
    .timeseries('Buffers allocated per second', {
      description:
        'New buffers allocated in shared buffers (the pressure the background writer works against).',
      sql: `with ${bgwriter(['buffers_alloc'])}
select time, buffers_alloc as allocated from rated where ${inRange()} order by time`,
    })
    .timeseries('Writes by backend type (pg_stat_io)', {
      description:
        'Relation writes per second by backend type and context, from pg_stat_io (PostgreSQL 16 and later).',
      sql: `with ${ratedCtes({ table: 'sn_stat_io', keys: ['backend_type', 'object', 'context'], counters: ['writes'], reset: true }, 'rated')}
select time, backend_type || ' (' || context || ')' as metric, writes as value
  from rated where ${inRange()} and object = 'relation' and writes > 0 order by time`,
      mayBeEmpty: 'pg_stat_io exists from PostgreSQL 16, and idle servers write nothing',
      width: 24,
    })

export const checkpointRecovery: DashboardDefinition = {
  file: 'checkpoint-recovery.json',
  answers:
    'Are checkpoints driven by time or forced by WAL volume, how long do they take, and who writes dirty buffers: checkpointer, background writer or the backends themselves?',
  build: () =>
    [checkpoints].reduce(
      (board, part) => part(board),
      new Board({
        uid: 'pga-checkpoint-recovery',
        title: 'pganalytics / Checkpoints and background writer',
        description:
          'Checkpoint frequency and cause, write and sync time, buffers written by each process, restartpoints.',
        variables: [instanceVariable()],
      }),
    ),
}
