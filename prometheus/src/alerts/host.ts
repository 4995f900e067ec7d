// Alerts on the database hosts' storage, from the metrics `pganalytics agent` pushes (system_*
// groups in /metrics/instances): filesystem space, inodes and read-only remounts, the PostgreSQL
// data and WAL volumes.
import { type AlertDefinition, type AlertGroup, bad, good, series } from '../types.ts'

const root = { mountpoint: '/var/lib/postgresql', device: '/dev/nvme1n1', fstype: 'xfs' }
const dataVolume = {
  kind: 'data_directory',
  path: '/var/lib/postgresql/16/main',
  mountpoint: '/var/lib/postgresql',
  device: '/dev/nvme1n1',
}
const walVolume = {
  kind: 'wal_directory',
  path: '/srv/wal/pg_wal',
  mountpoint: '/srv/wal',
  device: '/dev/nvme2n1',
}
const fs = 'pga_system_filesystem'
const vol = 'pga_system_pg_volume'

const spaceAlert = (
  alert: string,
  limit: number,
  severity: 'warning' | 'critical',
  fires: number,
): AlertDefinition => ({
  alert,
  expr: `${fs}_avail_bytes / ${fs}_size_bytes < ${limit} and ${fs}_readonly == 0`,
  for: severity === 'critical' ? '5m' : '10m',
  severity,
  summary: 'Filesystem {{ $labels.mountpoint }} on the host of {{ $labels.instance }} is almost full',
  description:
    'Only {{ $value | humanizePercentage }} of {{ $labels.mountpoint }} ({{ $labels.device }}) is available.',
  cause:
    'Data growth, logs, WAL retained by a slot or failing archiving, temporary files, or backups on the same volume.',
  runbook: [
    'Host dashboard, "Filesystems"; on the host `du -xh --max-depth=2 <mountpoint> | sort -h`.',
    'On the PostgreSQL volumes see PostgreSQLVolumeLow: never delete files from pg_wal by hand.',
  ],
  test: {
    fires: [
      series(`${fs}_avail_bytes`, { ...bad, ...root }, `${fires}x30`),
      series(`${fs}_size_bytes`, { ...bad, ...root }, '1e11x30'),
      series(`${fs}_readonly`, { ...bad, ...root }, '0x30'),
    ],
    silent: [
      series(`${fs}_avail_bytes`, { ...good, ...root }, '5e10x30'),
      series(`${fs}_size_bytes`, { ...good, ...root }, '1e11x30'),
      series(`${fs}_readonly`, { ...good, ...root }, '0x30'),
    ],
    labels: { ...bad, ...root },
    value: fires / 1e11,
  },
})

const volumeAlert = (
  alert: string,
  limit: number,
  severity: 'warning' | 'critical',
  fires: number,
): AlertDefinition => ({
  alert,
  expr: `${vol}_avail_bytes / ${vol}_size_bytes < ${limit}`,
  for: severity === 'critical' ? '5m' : '10m',
  severity,
  summary: 'The {{ $labels.kind }} volume of {{ $labels.instance }} is almost full',
  description:
    'Only {{ $value | humanizePercentage }} of the volume holding {{ $labels.path }} ({{ $labels.mountpoint }}) is available to PostgreSQL.',
  cause: 'Table and index growth, bloat, WAL retained by slots or failing archiving, or temporary files.',
  runbook: [
    'WAL volume: check archiving (PostgreSQLArchiveFailing) and slots (PostgreSQLReplicationSlotRetainingWal) first.',
    'Data volume: tables and indexes dashboard for growth and bloat; extend the volume before it fills (PostgreSQL stops at ENOSPC).',
  ],
  test: {
    fires: [
      series(`${vol}_avail_bytes`, { ...bad, ...dataVolume }, `${fires}x30`),
      series(`${vol}_size_bytes`, { ...bad, ...dataVolume }, '1e11x30'),
    ],
    silent: [
      series(`${vol}_avail_bytes`, { ...good, ...dataVolume }, '5e10x30'),
      series(`${vol}_size_bytes`, { ...good, ...dataVolume }, '1e11x30'),
    ],
    labels: { ...bad, ...dataVolume },
    value: fires / 1e11,
  },
})

export const hostAlerts: AlertGroup = {
  name: 'postgresql-host-storage',
  title: 'Host storage (pganalytics agent)',
  intro:
    'From the host groups the agent pushes (`system_*` in `/metrics/instances`); silent for instances without an agent.',
  alerts: [
    spaceAlert('HostFilesystemSpaceLow', 0.1, 'warning', 5e9),
    spaceAlert('HostFilesystemSpaceCritical', 0.05, 'critical', 2e9),
    {
      alert: 'HostFilesystemFillingUp',
      expr: `predict_linear(${fs}_avail_bytes[6h], 24 * 3600) < 0
and ${fs}_avail_bytes / ${fs}_size_bytes < 0.4 and ${fs}_readonly == 0`,
      for: '1h',
      severity: 'warning',
      summary:
        'Filesystem {{ $labels.mountpoint }} on the host of {{ $labels.instance }} fills up within a day',
      description:
        'At the last 6 hours’ rate, {{ $labels.mountpoint }} ({{ $labels.device }}) is full within 24 hours.',
      cause: 'Steady growth: data, WAL retained, logs.',
      runbook: ['As for HostFilesystemSpaceLow, before it is urgent.'],
      test: {
        at: '90m',
        fires: [
          series(`${fs}_avail_bytes`, { ...bad, ...root }, '1e10-1e7x100'),
          series(`${fs}_size_bytes`, { ...bad, ...root }, '1e11x100'),
          series(`${fs}_readonly`, { ...bad, ...root }, '0x100'),
        ],
        silent: [
          series(`${fs}_avail_bytes`, { ...good, ...root }, '3e10x100'),
          series(`${fs}_size_bytes`, { ...good, ...root }, '1e11x100'),
          series(`${fs}_readonly`, { ...good, ...root }, '0x100'),
        ],
        labels: { ...bad, ...root },
        value: -4_600_000_000,
      },
    },
    {
      alert: 'HostFilesystemInodesLow',
      expr: `${fs}_files_free / ${fs}_files < 0.1 and ${fs}_files > 0`,
      for: '10m',
      severity: 'warning',
      summary: 'Filesystem {{ $labels.mountpoint }} on the host of {{ $labels.instance }} runs out of inodes',
      description:
        'Only {{ $value | humanizePercentage }} of the inodes of {{ $labels.mountpoint }} are free: file creation fails when none are.',
      cause: 'Many small files: logs, temporary files, a tablespace with many small relations.',
      runbook: [
        '`find <mountpoint> -xdev -type f | cut -d/ -f2-4 | sort | uniq -c | sort -n | tail` finds where.',
      ],
      test: {
        fires: [
          series(`${fs}_files_free`, { ...bad, ...root }, '5e4x30'),
          series(`${fs}_files`, { ...bad, ...root }, '1e6x30'),
        ],
        silent: [
          series(`${fs}_files_free`, { ...good, ...root }, '5e5x30'),
          series(`${fs}_files`, { ...good, ...root }, '1e6x30'),
        ],
        labels: { ...bad, ...root },
        value: 0.05,
      },
    },
    {
      alert: 'HostFilesystemRemountedReadOnly',
      expr: `changes(${fs}_readonly[1h]) > 0 and ${fs}_readonly == 1`,
      severity: 'critical',
      summary: 'Filesystem {{ $labels.mountpoint }} on the host of {{ $labels.instance }} became read-only',
      description:
        '{{ $labels.mountpoint }} ({{ $labels.device }}) was remounted read-only in the last hour, usually after I/O errors: PostgreSQL on it stops.',
      cause: 'The kernel remounted it read-only after filesystem or device errors.',
      runbook: [
        '`dmesg` on the host for the I/O errors; fail over to a standby if the data volume is affected.',
        'Repair (fsck) and check the device before using it again.',
      ],
      test: {
        fires: [series(`${fs}_readonly`, { ...bad, ...root }, '0x10 1x20')],
        silent: [
          series(
            `${fs}_readonly`,
            { ...good, mountpoint: '/boot/efi', device: '/dev/nvme0n1p1', fstype: 'vfat' },
            '1x30',
          ),
        ],
        labels: { ...bad, ...root },
        value: 1,
      },
    },
    volumeAlert('PostgreSQLVolumeLow', 0.15, 'warning', 1e10),
    volumeAlert('PostgreSQLVolumeCritical', 0.05, 'critical', 3e9),
    {
      alert: 'PostgreSQLWalVolumeFillingUp',
      expr: `predict_linear(${vol}_avail_bytes{kind="wal_directory"}[1h], 4 * 3600) < 0`,
      for: '15m',
      severity: 'critical',
      summary: 'The WAL volume of {{ $labels.instance }} fills up within 4 hours',
      description:
        'At the last hour’s rate, the volume of {{ $labels.path }} is full within 4 hours: PostgreSQL stops when it cannot write WAL.',
      cause:
        'WAL is generated faster than it is removed: archiving fails or lags, a slot retains WAL, or a bulk load runs.',
      runbook: ['Check archiving and slots now (WAL and replication dashboards).'],
      test: {
        at: '2h',
        fires: [series(`${vol}_avail_bytes`, { ...bad, ...walVolume }, '1e10-5e7x130')],
        silent: [series(`${vol}_avail_bytes`, { ...good, ...walVolume }, '1e10x130')],
        labels: { ...bad, ...walVolume },
        value: -8_000_000_000,
      },
    },
  ],
}
