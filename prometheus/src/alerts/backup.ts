// Alerts on backups. The metrics do not exist yet: the backup work (being built now) is to export
// pganalytics_backup_last_success_timestamp_seconds{instance} and
// pganalytics_backup_failures_total{instance}; these rules are written against those names and go
// live with it (docs/ALERTS.md says so).
import { type AlertGroup, bad, good, series } from '../types.ts'

export const backupAlerts: AlertGroup = {
  name: 'postgresql-backups',
  title: 'Backups (live with the backup work)',
  intro:
    'Written against `pganalytics_backup_last_success_timestamp_seconds{instance}` and `pganalytics_backup_failures_total{instance}`, which the backup capability (in progress) exports; until then these rules find no series and stay silent.',
  alerts: [
    {
      alert: 'PostgreSQLBackupTooOld',
      expr: 'time() - pganalytics_backup_last_success_timestamp_seconds > 93600',
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
        fires: [series('pganalytics_backup_last_success_timestamp_seconds', bad, '0x400')],
        silent: [series('pganalytics_backup_last_success_timestamp_seconds', good, '90000x400')],
        labels: bad,
        value: 97_200,
      },
    },
    {
      alert: 'PostgreSQLBackupMissing',
      expr: 'time() - pganalytics_backup_last_success_timestamp_seconds > 180000',
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
        fires: [series('pganalytics_backup_last_success_timestamp_seconds', bad, '0x700')],
        silent: [series('pganalytics_backup_last_success_timestamp_seconds', good, '100000x700')],
        labels: bad,
        value: 187_200,
      },
    },
    {
      alert: 'PostgreSQLBackupFailing',
      expr: 'increase(pganalytics_backup_failures_total[1h]) > 0',
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
        fires: [series('pganalytics_backup_failures_total', bad, '0x30 1x40')],
        silent: [series('pganalytics_backup_failures_total', good, '2x70')],
        labels: bad,
        value: 1,
      },
    },
  ],
}
