// Alerts on WAL and archiving, from /metrics/instances: archive_command failing, archiving
// backlog and stalls, pg_wal growing past max_wal_size.
import { type AlertGroup, bad, good, series } from '../types.ts'

const archiver = { archive_mode: 'on' }
const GiB = 1_073_741_824

export const walAlerts: AlertGroup = {
  name: 'postgresql-wal',
  title: 'WAL and archiving',
  intro: 'From `/metrics/instances`: the archiver and storage groups, and `pga_setting`.',
  alerts: [
    {
      alert: 'PostgreSQLArchiveFailing',
      expr: `pga_archiver_last_failed_time_timestamp_seconds > pga_archiver_last_archived_time_timestamp_seconds
and on (instance, instance_id) increase(pga_archiver_failed_count_total[15m]) > 0`,
      for: '5m',
      severity: 'critical',
      summary: 'WAL archiving fails on {{ $labels.instance }}',
      description:
        'archive_command on {{ $labels.instance }} fails and has not succeeded since: point-in-time recovery is impossible past the last archived segment, and pg_wal grows.',
      cause:
        'The archive destination is unreachable or full, credentials expired, or archive_command itself is wrong.',
      runbook: [
        'WAL and archiving dashboard: last failed segment; the server log has archive_command’s error output.',
        'Run the archive_command by hand as the postgres user for that segment.',
        'Fix before pg_wal fills the volume (PostgreSQLVolumeLow, PostgreSQLWalVolumeFillingUp).',
      ],
      test: {
        fires: [
          series('pga_archiver_last_failed_time_timestamp_seconds', { ...bad, ...archiver }, '1500x30'),
          series('pga_archiver_last_archived_time_timestamp_seconds', { ...bad, ...archiver }, '1000x30'),
          series('pga_archiver_failed_count_total', { ...bad, ...archiver }, '0+1x30'),
        ],
        silent: [
          series('pga_archiver_last_failed_time_timestamp_seconds', { ...good, ...archiver }, '1000x30'),
          series('pga_archiver_last_archived_time_timestamp_seconds', { ...good, ...archiver }, '1500x30'),
          series('pga_archiver_failed_count_total', { ...good, ...archiver }, '3x30'),
        ],
        labels: { ...bad, ...archiver },
        value: 1500,
      },
    },
    {
      alert: 'PostgreSQLArchiveBacklog',
      expr: 'pga_archiver_ready_files > 20',
      for: '10m',
      severity: 'warning',
      summary: '{{ $value | humanize }} WAL segments wait to be archived on {{ $labels.instance }}',
      description:
        '{{ $value | humanize }} segments in pg_wal/archive_status are .ready on {{ $labels.instance }}: archiving is slower than WAL generation.',
      cause: 'archive_command is slow (one segment at a time over a slow link) or fails intermittently.',
      runbook: [
        'Compare "WAL generated per second" with "Archived per minute" in the WAL dashboard.',
        'Use an archiver that runs in parallel (pgBackRest async archive-push, wal-g) or a faster destination.',
      ],
      test: {
        fires: [series('pga_archiver_ready_files', { ...bad, ...archiver }, '50x30')],
        silent: [series('pga_archiver_ready_files', { ...good, ...archiver }, '1x30')],
        labels: { ...bad, ...archiver },
        value: 50,
      },
    },
    {
      alert: 'PostgreSQLArchiveBacklogCritical',
      expr: 'pga_archiver_ready_files > 200',
      for: '10m',
      severity: 'critical',
      summary: '{{ $value | humanize }} WAL segments wait to be archived on {{ $labels.instance }}',
      description:
        '{{ $value | humanize }} segments are not archived on {{ $labels.instance }}: the recovery point objective is not met and pg_wal grows.',
      cause: 'As for PostgreSQLArchiveBacklog, far behind.',
      runbook: ['As for PostgreSQLArchiveBacklog; check the free space of the WAL volume now.'],
      test: {
        fires: [series('pga_archiver_ready_files', { ...bad, ...archiver }, '500x30')],
        silent: [series('pga_archiver_ready_files', { ...good, ...archiver }, '50x30')],
        labels: { ...bad, ...archiver },
        value: 500,
      },
    },
    {
      alert: 'PostgreSQLArchiveStalled',
      expr: `time() - pga_archiver_last_archived_time_timestamp_seconds{archive_mode!="off"} > 3600
and on (instance, instance_id) pga_archiver_ready_files > 0`,
      for: '10m',
      severity: 'critical',
      summary: 'Nothing archived on {{ $labels.instance }} for {{ $value | humanizeDuration }}',
      description:
        'The last segment archived on {{ $labels.instance }} is {{ $value | humanizeDuration }} old while segments wait: archiving has stopped.',
      cause: 'archive_command hangs, or the archiver process is stuck.',
      runbook: [
        'Look for a hung archive_command process on the host (`ps -ef | grep archive`).',
        'The server log shows the last archiver activity.',
      ],
      test: {
        at: '120m',
        fires: [
          series('pga_archiver_last_archived_time_timestamp_seconds', { ...bad, ...archiver }, '0x130'),
          series('pga_archiver_ready_files', { ...bad, ...archiver }, '5x130'),
        ],
        silent: [
          series('pga_archiver_last_archived_time_timestamp_seconds', { ...good, ...archiver }, '7000x130'),
          series('pga_archiver_ready_files', { ...good, ...archiver }, '5x130'),
        ],
        labels: { ...bad, ...archiver },
        value: 7200,
      },
    },
    {
      alert: 'PostgreSQLWalDirectoryLarge',
      expr: 'pga_storage_size_bytes{kind="wal_directory"} > on (instance, instance_id) group_left () (2 * pga_setting{name="max_wal_size"})',
      for: '15m',
      severity: 'warning',
      summary: 'pg_wal on {{ $labels.instance }} holds {{ $value | humanize1024 }}B',
      description:
        'pg_wal on {{ $labels.instance }} is {{ $value | humanize1024 }}B, more than twice max_wal_size: something retains WAL.',
      cause:
        'A replication slot whose consumer is gone or behind, failing archiving, or wal_keep_size set high.',
      runbook: [
        'Replication dashboard: WAL retained per slot; WAL dashboard: archive failures and backlog.',
        "Drop a slot whose consumer is gone for good: `select pg_drop_replication_slot('<slot>')`.",
      ],
      test: {
        fires: [
          series(
            'pga_storage_size_bytes',
            { ...bad, kind: 'wal_directory', name: 'pg_wal' },
            `${5 * GiB}x30`,
          ),
          series('pga_setting', { ...bad, name: 'max_wal_size' }, `${GiB}x30`),
        ],
        silent: [
          series('pga_storage_size_bytes', { ...good, kind: 'wal_directory', name: 'pg_wal' }, `${GiB}x30`),
          series('pga_setting', { ...good, name: 'max_wal_size' }, `${GiB}x30`),
        ],
        labels: { ...bad, kind: 'wal_directory', name: 'pg_wal' },
        value: 5 * GiB,
      },
    },
  ],
}
