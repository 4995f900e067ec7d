// Alerts on the engine, from /metrics/instances: cache hit ratio, temp files, recovery conflicts,
// checkpoint pressure and slow syncs, backends writing their own buffers.
import { type AlertDefinition, type AlertGroup, bad, good, series } from '../types.ts'

const app = { datname: 'app' }

export const engineAlerts: AlertGroup = {
  name: 'postgresql-engine',
  title: 'Engine: cache, temporary files, checkpoints',
  intro: 'From `/metrics/instances`: the database, checkpointer and bgwriter groups.',
  alerts: [
    {
      alert: 'PostgreSQLCacheHitRatioLow',
      expr: `sum by (instance, instance_id, datname) (rate(pga_database_blks_hit_total[30m]))
  / sum by (instance, instance_id, datname) (rate(pga_database_blks_hit_total[30m]) + rate(pga_database_blks_read_total[30m])) < 0.9
and sum by (instance, instance_id, datname) (rate(pga_database_blks_read_total[30m])) > 100`,
      for: '30m',
      severity: 'warning',
      summary: 'Low cache hit ratio in {{ $labels.datname }} on {{ $labels.instance }}',
      description:
        'Only {{ $value | humanizePercentage }} of block reads in {{ $labels.datname }} were found in shared buffers over 30 minutes.',
      cause:
        'The working set outgrew shared_buffers, or queries scan large tables (missing indexes, reports).',
      runbook: [
        'Query performance dashboard, top statements by I/O: index or rewrite them.',
        'If the working set grew: more shared_buffers (about 25 % of RAM) or memory; the page cache still helps reads counted here as misses.',
      ],
      test: {
        at: '70m',
        fires: [
          series('pga_database_blks_hit_total', { ...bad, ...app }, '0+48000x80'),
          series('pga_database_blks_read_total', { ...bad, ...app }, '0+12000x80'),
        ],
        silent: [
          series('pga_database_blks_hit_total', { ...good, ...app }, '0+1188000x80'),
          series('pga_database_blks_read_total', { ...good, ...app }, '0+12000x80'),
        ],
        labels: { ...bad, ...app },
        value: 0.8,
      },
    },
    {
      alert: 'PostgreSQLTempFilesSpike',
      expr: 'sum by (instance, instance_id, datname) (increase(pga_database_temp_bytes_total[10m])) > 1073741824',
      severity: 'warning',
      summary: 'Heavy temporary file use in {{ $labels.datname }} on {{ $labels.instance }}',
      description:
        '{{ $value | humanize1024 }}B written to temporary files in 10 minutes in {{ $labels.datname }}.',
      cause: 'Sorts and hashes larger than work_mem spill to disk: a new query, a plan change, or a report.',
      runbook: [
        'Query performance dashboard: statements with "temp written".',
        'Raise work_mem for that role or query (`SET work_mem` in the session), or add an index that avoids the sort.',
      ],
      test: {
        fires: [series('pga_database_temp_bytes_total', { ...bad, ...app }, '0+214748364.8x30')],
        silent: [series('pga_database_temp_bytes_total', { ...good, ...app }, '0+1000000x30')],
        labels: { ...bad, ...app },
        value: 2147483648,
      },
    },
    {
      alert: 'PostgreSQLRecoveryConflicts',
      expr: 'sum by (instance, instance_id, datname) (increase(pga_database_conflicts_total[15m])) > 10',
      severity: 'warning',
      summary: 'Queries cancelled by recovery conflicts on standby {{ $labels.instance }}',
      description:
        'More than 10 queries in {{ $labels.datname }} were cancelled in 15 minutes because replay needed what they used.',
      cause: 'Long queries on a hot standby conflict with vacuum cleanup or locks replayed from the primary.',
      runbook: [
        'Set `hot_standby_feedback = on` (at the cost of bloat on the primary) or raise `max_standby_streaming_delay`.',
        'Move long reports to a standby dedicated to them.',
      ],
      test: {
        fires: [series('pga_database_conflicts_total', { ...bad, ...app }, '0+2x30')],
        silent: [series('pga_database_conflicts_total', { ...good, ...app }, '0x30')],
        labels: { ...bad, ...app },
        value: 30,
      },
    },
    ...checkpointAlerts(),
  ],
}

function checkpointAlerts(): AlertDefinition[] {
  const requested = 'pga_checkpointer_num_requested_total'
  const timed = 'pga_checkpointer_num_timed_total'
  return [
    {
      alert: 'PostgreSQLCheckpointsRequested',
      expr: `sum by (instance, instance_id) (increase(${requested}[1h]))
  / sum by (instance, instance_id) (increase(${requested}[1h]) + increase(${timed}[1h])) > 0.5
and sum by (instance, instance_id) (increase(${requested}[1h])) > 3`,
      for: '30m',
      severity: 'warning',
      summary: 'Checkpoints on {{ $labels.instance }} are forced by WAL volume',
      description:
        '{{ $value | humanizePercentage }} of checkpoints in the last hour were requested, not scheduled: max_wal_size is reached before checkpoint_timeout.',
      cause: 'Write bursts (bulk loads, large updates) or max_wal_size too small for the write rate.',
      runbook: [
        'Checkpoints dashboard: requested vs scheduled, and WAL per second.',
        'Raise max_wal_size so checkpoints come from checkpoint_timeout; full-page images drop with fewer checkpoints.',
      ],
      test: {
        at: '100m',
        fires: [series(requested, bad, '0+1x110'), series(timed, bad, '0+0.2x110')],
        silent: [series(requested, good, '0+0.01x110'), series(timed, good, '0+0.2x110')],
        labels: bad,
        value: 0.8333333333333334,
      },
    },
    {
      alert: 'PostgreSQLCheckpointSyncSlow',
      expr: `sum by (instance, instance_id) (increase(pga_checkpointer_sync_time_seconds_total[1h]))
  / sum by (instance, instance_id) (increase(${timed}[1h]) + increase(${requested}[1h])) > 10`,
      severity: 'warning',
      summary: 'Checkpoint syncs are slow on {{ $labels.instance }}',
      description:
        'Checkpoints on {{ $labels.instance }} spent {{ $value | humanizeDuration }} each in fsync over the last hour.',
      cause:
        'The storage is slow to flush (saturated, throttled cloud volume, write cache off) or the OS holds too much dirty data.',
      runbook: [
        'Host dashboard: disk latency and utilisation during checkpoints.',
        'Lower vm.dirty_background_bytes so the OS writes earlier; spread writes with checkpoint_completion_target = 0.9.',
      ],
      test: {
        at: '65m',
        fires: [
          series('pga_checkpointer_sync_time_seconds_total', bad, '0+3x70'),
          series(timed, bad, '0+0.2x70'),
          series(requested, bad, '0x70'),
        ],
        silent: [
          series('pga_checkpointer_sync_time_seconds_total', good, '0+0.1x70'),
          series(timed, good, '0+0.2x70'),
          series(requested, good, '0x70'),
        ],
        labels: bad,
        value: 15,
      },
    },
    {
      alert: 'PostgreSQLBackendFsyncs',
      expr: 'sum by (instance, instance_id) (increase(pga_bgwriter_buffers_backend_fsync_total[1h])) > 0',
      severity: 'warning',
      summary: 'Backends had to fsync themselves on {{ $labels.instance }}',
      description:
        'Backends on {{ $labels.instance }} called fsync because the checkpointer’s request queue was full (PostgreSQL up to 16).',
      cause:
        'The checkpointer cannot absorb fsync requests fast enough: very high write rates or a slow disk.',
      runbook: ['Host dashboard: disk latency; consider faster storage or spreading writes.'],
      test: {
        at: '65m',
        fires: [series('pga_bgwriter_buffers_backend_fsync_total', bad, '0+1x70')],
        silent: [series('pga_bgwriter_buffers_backend_fsync_total', good, '0x70')],
        labels: bad,
        value: 60,
      },
    },
    {
      alert: 'PostgreSQLBgwriterStoppedOften',
      expr: 'sum by (instance, instance_id) (increase(pga_bgwriter_maxwritten_clean_total[1h])) > 100',
      severity: 'info',
      summary: 'The background writer on {{ $labels.instance }} stops early',
      description:
        'The background writer stopped cleaning {{ $value | humanize }} times in an hour after writing bgwriter_lru_maxpages buffers: backends write more dirty buffers themselves.',
      cause: 'bgwriter_lru_maxpages is low for the rate of new buffers.',
      runbook: [
        'Raise bgwriter_lru_maxpages (e.g. 500) and compare "Buffers written per second" in the checkpoints dashboard.',
      ],
      test: {
        at: '65m',
        fires: [series('pga_bgwriter_maxwritten_clean_total', bad, '0+5x70')],
        silent: [series('pga_bgwriter_maxwritten_clean_total', good, '0+0.5x70')],
        labels: bad,
        value: 300,
      },
    },
  ]
}
