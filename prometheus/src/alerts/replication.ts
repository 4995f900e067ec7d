// Alerts on replication, from /metrics/instances: standby lag in bytes and seconds on both sides,
// standbys and WAL receivers that disappear, replication slots inactive, retaining WAL, about to be
// lost or lost, holding back the xmin horizon.
import { type AlertDefinition, type AlertGroup, bad, good, series } from '../types.ts'

const standby = {
  application_name: 'replica1',
  client_addr: '10.0.0.2',
  sync_state: 'async',
  state: 'streaming',
}
const slot = { slot_name: 'replica1', slot_type: 'physical', temporary: 'false' }
const receiver = { status: 'streaming', sender_host: '10.0.0.1', sender_port: '5432', slot_name: 'replica1' }
const GiB = 1_073_741_824
const slotLabels = (base: Record<string, string>, walStatus: string) => ({
  ...base,
  ...slot,
  wal_status: walStatus,
})

const lagAlert = (
  alert: string,
  column: 'replay_lag_bytes' | 'replay_lag_seconds',
  limit: number,
  severity: 'warning' | 'critical',
  fires: number,
  silent: number,
): AlertDefinition => {
  const bytes = column === 'replay_lag_bytes'
  return {
    alert,
    expr: `max without (pid, state, usename) (pga_replication_${column}) > ${limit}`,
    for: '5m',
    severity,
    summary: `Standby {{ $labels.application_name }} of {{ $labels.instance }} lags ${bytes ? '{{ $value | humanize1024 }}B' : '{{ $value | humanizeDuration }}'}`,
    description: bytes
      ? 'Standby {{ $labels.application_name }} ({{ $labels.client_addr }}) has not replayed {{ $value | humanize1024 }}B of WAL from {{ $labels.instance }}.'
      : 'Transactions committed on {{ $labels.instance }} reach standby {{ $labels.application_name }} ({{ $labels.client_addr }}) {{ $value | humanizeDuration }} later.',
    cause:
      'The standby cannot keep up (slow disk, CPU, long queries conflicting with replay), the network is saturated, or the primary writes a burst of WAL.',
    runbook: [
      'Replication dashboard: write vs flush vs replay lag. Write lag high: network; flush: standby disk; replay: replay blocked or slow.',
      'Replay paused by conflicts: see PostgreSQLRecoveryConflicts and max_standby_streaming_delay.',
      severity === 'critical'
        ? 'A failover now would lose or wait for this WAL; keep it out of the failover candidates until it catches up.'
        : 'Watch the trend; a slot keeps the WAL it still needs on the primary.',
    ],
    test: {
      fires: [
        series(
          `pga_replication_${column}`,
          { ...bad, ...standby, pid: '812', usename: 'replicator' },
          `${fires}x30`,
        ),
      ],
      silent: [
        series(
          `pga_replication_${column}`,
          { ...good, ...standby, pid: '913', usename: 'replicator' },
          `${silent}x30`,
        ),
      ],
      labels: { ...bad, application_name: 'replica1', client_addr: '10.0.0.2', sync_state: 'async' },
      value: fires,
    },
  }
}

export const replicationAlerts: AlertGroup = {
  name: 'postgresql-replication',
  title: 'WAL, archiving and replication',
  intro:
    'From `/metrics/instances`: archiver and storage groups, both sides of streaming replication, replication slots.',
  alerts: [
    lagAlert('PostgreSQLReplicationLagBytes', 'replay_lag_bytes', GiB, 'warning', 2 * GiB, 1000),
    lagAlert(
      'PostgreSQLReplicationLagBytesCritical',
      'replay_lag_bytes',
      10 * GiB,
      'critical',
      20 * GiB,
      2 * GiB,
    ),
    lagAlert('PostgreSQLReplicationLagSeconds', 'replay_lag_seconds', 300, 'warning', 600, 1),
    lagAlert('PostgreSQLReplicationLagSecondsCritical', 'replay_lag_seconds', 1800, 'critical', 3600, 600),
    ...standbyAlerts(),
    ...slotAlerts(),
  ],
}

function standbyAlerts(): AlertDefinition[] {
  return [
    {
      alert: 'PostgreSQLStandbyDisconnected',
      expr: `max without (pid, state, usename, sync_state) (pga_replication_sync_priority offset 10m)
unless on (instance_id, application_name, client_addr) pga_replication_sync_priority`,
      severity: 'warning',
      summary: 'Standby {{ $labels.application_name }} left {{ $labels.instance }}',
      description:
        'Standby {{ $labels.application_name }} ({{ $labels.client_addr }}) streamed from {{ $labels.instance }} 10 minutes ago and does not now.',
      cause:
        'The standby is down, lost its network, or was removed; if it uses a slot, the primary now retains WAL for it.',
      runbook: [
        'On the standby: is PostgreSQL running, and what does its log say about the WAL receiver?',
        'Removed on purpose: drop its slot on the primary so WAL is not retained forever.',
      ],
      test: {
        at: '20m',
        fires: [
          series(
            'pga_replication_sync_priority',
            { ...bad, ...standby, pid: '812', usename: 'replicator' },
            '0x15 stale',
          ),
        ],
        silent: [
          series(
            'pga_replication_sync_priority',
            { ...good, ...standby, pid: '913', usename: 'replicator' },
            '0x30',
          ),
        ],
        labels: { ...bad, application_name: 'replica1', client_addr: '10.0.0.2' },
        value: 0,
      },
    },
    {
      alert: 'PostgreSQLStandbyReplayDelay',
      expr: 'pga_wal_receiver_replay_delay_seconds > 600',
      for: '5m',
      severity: 'warning',
      summary: 'Standby {{ $labels.instance }} replays {{ $value | humanizeDuration }} late',
      description:
        'Standby {{ $labels.instance }} has received WAL it has not replayed for {{ $value | humanizeDuration }}; reads there are stale.',
      cause:
        'Replay is blocked by a conflicting query (max_standby_streaming_delay), paused (pg_wal_replay_pause) or slow.',
      runbook: [
        '`select pg_is_wal_replay_paused()` on the standby; resume with `pg_wal_replay_resume()`.',
        'Long queries on the standby delay replay up to max_standby_streaming_delay.',
      ],
      test: {
        fires: [series('pga_wal_receiver_replay_delay_seconds', { ...bad, ...receiver }, '1200x30')],
        silent: [series('pga_wal_receiver_replay_delay_seconds', { ...good, ...receiver }, '0x30')],
        labels: { ...bad, ...receiver },
        value: 1200,
      },
    },
    {
      alert: 'PostgreSQLWalReceiverNotStreaming',
      expr: 'pga_wal_receiver_received_tli{status!="streaming"}',
      for: '5m',
      severity: 'critical',
      summary: 'Standby {{ $labels.instance }} is not streaming ({{ $labels.status }})',
      description:
        'The WAL receiver of standby {{ $labels.instance }} is {{ $labels.status }}, not streaming from {{ $labels.sender_host }}.',
      cause:
        'The primary is unreachable, refuses the replication login, or no longer has the WAL the standby needs.',
      runbook: [
        'Standby log: "could not connect", "requested WAL segment has already been removed" (rebuild it or restore from the archive).',
      ],
      test: {
        fires: [series('pga_wal_receiver_received_tli', { ...bad, ...receiver, status: 'waiting' }, '1x30')],
        silent: [series('pga_wal_receiver_received_tli', { ...good, ...receiver }, '1x30')],
        labels: { ...bad, ...receiver, status: 'waiting' },
        value: 1,
      },
    },
    {
      alert: 'PostgreSQLWalReceiverGone',
      expr: 'pga_wal_receiver_received_tli offset 10m unless on (instance_id) pga_wal_receiver_received_tli',
      severity: 'critical',
      summary: 'Standby {{ $labels.instance }} has no WAL receiver',
      description:
        'Standby {{ $labels.instance }} had a WAL receiver 10 minutes ago and has none now: it does not stream.',
      cause: 'The receiver exited (primary gone, promoted, authentication) and keeps failing to start.',
      runbook: [
        'Standby log for the receiver’s errors; if it was promoted on purpose, this resolves after 10 minutes.',
      ],
      test: {
        at: '20m',
        fires: [series('pga_wal_receiver_received_tli', { ...bad, ...receiver }, '1x15 stale')],
        silent: [series('pga_wal_receiver_received_tli', { ...good, ...receiver }, '1x30')],
        labels: { ...bad, ...receiver },
        value: 1,
      },
    },
  ]
}

function slotAlerts(): AlertDefinition[] {
  const keep = 'max without (active_pid, wal_status, conflicting)'
  return [
    {
      alert: 'PostgreSQLReplicationSlotInactive',
      expr: `${keep} (pga_replication_slots_active) == 0`,
      for: '30m',
      severity: 'warning',
      summary: 'Replication slot {{ $labels.slot_name }} on {{ $labels.instance }} is inactive',
      description:
        'No consumer has used slot {{ $labels.slot_name }} on {{ $labels.instance }} for 30 minutes; it retains WAL (and xmin) meanwhile.',
      cause: 'Its standby or logical consumer is down or was removed without dropping the slot.',
      runbook: [
        "Bring the consumer back, or drop the slot: `select pg_drop_replication_slot('<slot>')`.",
        'Cap the damage: max_slot_wal_keep_size (PostgreSQL 13+).',
      ],
      test: {
        at: '35m',
        fires: [series('pga_replication_slots_active', slotLabels(bad, 'reserved'), '0x40')],
        silent: [series('pga_replication_slots_active', slotLabels(good, 'reserved'), '1x40')],
        labels: { ...bad, ...slot },
        value: 0,
      },
    },
    {
      alert: 'PostgreSQLReplicationSlotRetainingWal',
      expr: `${keep} (pga_replication_slots_retained_bytes) > 10737418240`,
      for: '10m',
      severity: 'warning',
      summary:
        'Slot {{ $labels.slot_name }} retains {{ $value | humanize1024 }}B of WAL on {{ $labels.instance }}',
      description:
        'Replication slot {{ $labels.slot_name }} keeps {{ $value | humanize1024 }}B of WAL in pg_wal on {{ $labels.instance }}.',
      cause: 'Its consumer is behind or gone.',
      runbook: [
        'See PostgreSQLReplicationSlotInactive and the replication dashboard’s "WAL retained per slot".',
      ],
      test: {
        fires: [
          series('pga_replication_slots_retained_bytes', slotLabels(bad, 'extended'), `${20 * GiB}x30`),
        ],
        silent: [series('pga_replication_slots_retained_bytes', slotLabels(good, 'reserved'), '16777216x30')],
        labels: { ...bad, ...slot },
        value: 20 * GiB,
      },
    },
    {
      alert: 'PostgreSQLReplicationSlotNearLoss',
      expr: `${keep} (pga_replication_slots_safe_wal_size) < 1073741824`,
      for: '5m',
      severity: 'critical',
      summary: 'Slot {{ $labels.slot_name }} on {{ $labels.instance }} is about to be invalidated',
      description:
        'Only {{ $value | humanize1024 }}B of WAL can still be written before slot {{ $labels.slot_name }} exceeds max_slot_wal_keep_size and is lost.',
      cause: 'The consumer is far behind and max_slot_wal_keep_size caps the retained WAL.',
      runbook: [
        'Let the consumer catch up now (it needs the retained WAL), or accept that it will be rebuilt.',
        'Raise max_slot_wal_keep_size if the volume has room (reload, no restart).',
      ],
      test: {
        fires: [series('pga_replication_slots_safe_wal_size', slotLabels(bad, 'unreserved'), '104857600x30')],
        silent: [
          series('pga_replication_slots_safe_wal_size', slotLabels(good, 'reserved'), `${10 * GiB}x30`),
        ],
        labels: { ...bad, ...slot },
        value: 104_857_600,
      },
    },
    {
      alert: 'PostgreSQLReplicationSlotLost',
      expr: 'pga_replication_slots_active{wal_status="lost"}',
      severity: 'critical',
      summary: 'Slot {{ $labels.slot_name }} on {{ $labels.instance }} is lost',
      description:
        'Replication slot {{ $labels.slot_name }} lost the WAL its consumer needs: the standby or logical subscriber must be rebuilt.',
      cause: 'The consumer fell further behind than max_slot_wal_keep_size allows.',
      runbook: [
        'Rebuild the standby (pg_basebackup) or resynchronise the subscription, then drop and recreate the slot.',
      ],
      test: {
        fires: [series('pga_replication_slots_active', slotLabels(bad, 'lost'), '0x30')],
        silent: [series('pga_replication_slots_active', slotLabels(good, 'reserved'), '0x30')],
        labels: { ...bad, ...slot, wal_status: 'lost' },
        value: 0,
      },
    },
    {
      alert: 'PostgreSQLReplicationSlotXminOld',
      expr: `${keep} (pga_replication_slots_xmin_age) > 100000000`,
      for: '30m',
      severity: 'warning',
      summary: 'Slot {{ $labels.slot_name }} holds back vacuum on {{ $labels.instance }}',
      description:
        'Slot {{ $labels.slot_name }} holds an xmin {{ $value | humanize }} transactions old: vacuum cannot remove newer dead rows, and wraparound age grows.',
      cause: 'hot_standby_feedback from a standby running long queries, or a logical consumer that stopped.',
      runbook: [
        'Find the long query on the standby, or the stopped consumer; drop the slot if its consumer is gone.',
      ],
      test: {
        at: '35m',
        fires: [series('pga_replication_slots_xmin_age', slotLabels(bad, 'reserved'), '200000000x40')],
        silent: [series('pga_replication_slots_xmin_age', slotLabels(good, 'reserved'), '1000x40')],
        labels: { ...bad, ...slot },
        value: 200_000_000,
      },
    },
  ]
}
