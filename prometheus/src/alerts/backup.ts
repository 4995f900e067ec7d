// Alerts on backups, from the backup figures of /metrics/instances (src/backup/exposition.ts):
// the age of the last successful backup, failed backups, and the age of the continuous WAL in the
// repository (the recovery point a restore can reach now).
import { type AlertGroup, bad, good, series } from '../types.ts'

export const backupAlerts: AlertGroup = {
  name: 'postgresql-backups',
  title: 'Backups',
  intro:
    'From the backup figures of `/metrics/instances`: `pga_backup_last_success_timestamp_seconds`, `pga_backup_failures_total` and `pga_wal_stored_timestamp_seconds` (instances with continuous WAL). See docs/BACKUP_GUIDE.md.',
  alerts: [
    {
      alert: 'PostgreSQLBackupTooOld',
      expr: 'time() - pga_backup_last_success_timestamp_seconds > 93600',
      for: '15m',
      severity: 'warning',
      summary: 'The last backup of {{ $labels.instance }} is {{ $value | humanizeDuration }} old',
      description:
        'No backup of {{ $labels.instance }} has succeeded for {{ $value | humanizeDuration }} (a daily schedule allows 26 hours).',
      cause: 'The schedule did not run (scheduler, lease), or backups fail (see PostgreSQLBackupFailing).',
      runbook: [
        'List the instance’s backups and their status (GET /api/v1/backups) and the backup logs.',
        'Run one now (POST /api/v1/backups/trigger) once the cause is fixed.',
      ],
      test: {
        interval: '5m',
        at: '27h',
        fires: [series('pga_backup_last_success_timestamp_seconds', bad, '0x400')],
        silent: [series('pga_backup_last_success_timestamp_seconds', good, '90000x400')],
        labels: bad,
        value: 97_200,
      },
    },
    {
      alert: 'PostgreSQLBackupMissing',
      expr: 'time() - pga_backup_last_success_timestamp_seconds > 180000',
      for: '15m',
      severity: 'critical',
      summary: 'No backup of {{ $labels.instance }} for {{ $value | humanizeDuration }}',
      description:
        'The last successful backup of {{ $labels.instance }} is {{ $value | humanizeDuration }} old: two daily backups were missed and a restore would lose more than the recovery point objective.',
      cause: 'As for PostgreSQLBackupTooOld, for two days.',
      runbook: ['As for PostgreSQLBackupTooOld; treat as an incident: restores depend on it.'],
      test: {
        interval: '5m',
        at: '52h',
        fires: [series('pga_backup_last_success_timestamp_seconds', bad, '0x700')],
        silent: [series('pga_backup_last_success_timestamp_seconds', good, '100000x700')],
        labels: bad,
        value: 187_200,
      },
    },
    {
      alert: 'PostgreSQLBackupFailing',
      expr: 'increase(pga_backup_failures_total[1h]) > 0',
      severity: 'warning',
      summary: 'Backups of {{ $labels.instance }} fail',
      description: 'At least one backup of {{ $labels.instance }} failed in the last hour.',
      cause:
        'The storage destination is unreachable or full, credentials expired, or pg_basebackup / pg_dump failed on the server.',
      runbook: [
        'The failed backup’s error (GET /api/v1/backups?status=failed) and the backup logs name the step.',
      ],
      test: {
        at: '60m',
        fires: [series('pga_backup_failures_total', bad, '0x30 1x40')],
        silent: [series('pga_backup_failures_total', good, '2x70')],
        labels: bad,
        value: 1,
      },
    },
    {
      alert: 'PostgreSQLWalArchiveBehind',
      expr: 'time() - pga_wal_stored_timestamp_seconds > 300',
      for: '2m',
      severity: 'critical',
      summary: 'Continuous WAL of {{ $labels.instance }} is {{ $value | humanizeDuration }} behind',
      description:
        'The newest WAL of {{ $labels.instance }} in the backup repository is {{ $value | humanizeDuration }} old: a restore now would lose more than the 5-minute recovery point objective, and the replication slot holds WAL on the server meanwhile.',
      cause:
        'No replica streams the instance (all down, or the lease is stuck), pg_receivewal cannot connect (replication role, pg_hba), or the repository refuses writes.',
      runbook: [
        'GET /api/v1/instances/{id}/recovery shows `walError`; the service log names the receiver failure.',
        'Check the slot `pganalytics_<id>` on the server (`pg_replication_slots`): its retained WAL grows until streaming resumes.',
        'See docs/BACKUP_TROUBLESHOOTING.md.',
      ],
      test: {
        at: '30m',
        fires: [series('pga_wal_stored_timestamp_seconds', bad, '0x40')],
        silent: [series('pga_wal_stored_timestamp_seconds', good, '0+60x40')],
        labels: bad,
        value: 1_800,
      },
    },
  ],
}
