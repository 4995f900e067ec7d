// Alerts on wraparound and vacuum, from /metrics/instances: transaction ID and multixact age,
// anti-wraparound vacuum falling behind, dead rows, autovacuum not running, tables overdue for
// freezing (the table alerts need the tables group: job pganalytics-tables), long vacuums.
import { type AlertDefinition, type AlertGroup, bad, good, series } from '../types.ts'

const app = { datname: 'app' }
const orders = { datname: 'app', schemaname: 'public', relname: 'orders' }

const ageAlert = (
  alert: string,
  metric: 'xid_age' | 'mxid_age',
  limit: number,
  severity: 'warning' | 'critical',
  fires: number,
  silent: number,
): AlertDefinition => {
  const what = metric === 'xid_age' ? 'transaction ID' : 'multixact ID'
  return {
    alert,
    expr: `max by (instance, instance_id, datname) (pga_database_${metric}) > ${limit}`,
    for: '5m',
    severity,
    summary: `${what} wraparound approaches in {{ $labels.datname }} on {{ $labels.instance }}`,
    description: `The oldest ${what} of {{ $labels.datname }} is {{ $value | humanize }} old; PostgreSQL stops accepting writes at about 2.1G (wraparound protection).`,
    cause:
      'Autovacuum cannot freeze old rows: a long transaction, an abandoned replication slot or prepared transaction holds the horizon back, or anti-wraparound vacuums are too slow or keep being cancelled.',
    runbook: [
      'Find what holds the horizon: oldest transaction (activity dashboard), slots with an old xmin (replication dashboard), `select * from pg_prepared_xacts`.',
      'Tables and indexes dashboard, "Nearest to wraparound": run `VACUUM (FREEZE, VERBOSE)` on the oldest tables, largest first.',
      severity === 'critical'
        ? 'Do not wait: at 3M IDs left PostgreSQL refuses commands that assign new IDs until a database-wide vacuum.'
        : 'Raise autovacuum_vacuum_cost_limit or workers if anti-wraparound vacuums run but do not finish.',
    ],
    test: {
      fires: [series(`pga_database_${metric}`, { ...bad, ...app }, `${fires}x30`)],
      silent: [series(`pga_database_${metric}`, { ...good, ...app }, `${silent}x30`)],
      labels: { ...bad, ...app },
      value: fires,
    },
  }
}

export const vacuumAlerts: AlertGroup = {
  name: 'postgresql-vacuum',
  title: 'Wraparound and vacuum',
  intro:
    'From `/metrics/instances`. The table alerts read the tables group, exported only when asked: the `pganalytics-tables` job of prometheus/prometheus.yml scrapes `?groups=tables` every 5 minutes.',
  alerts: [
    ageAlert(
      'PostgreSQLXidWraparoundWarning',
      'xid_age',
      1_000_000_000,
      'warning',
      1_200_000_000,
      200_000_000,
    ),
    ageAlert(
      'PostgreSQLXidWraparoundCritical',
      'xid_age',
      1_500_000_000,
      'critical',
      1_600_000_000,
      1_200_000_000,
    ),
    ageAlert(
      'PostgreSQLMultixactWraparoundWarning',
      'mxid_age',
      1_000_000_000,
      'warning',
      1_100_000_000,
      100_000,
    ),
    ageAlert(
      'PostgreSQLMultixactWraparoundCritical',
      'mxid_age',
      1_500_000_000,
      'critical',
      1_700_000_000,
      1_100_000_000,
    ),
    {
      alert: 'PostgreSQLAutovacuumFreezeBehind',
      expr: `max by (instance, instance_id, datname) (pga_database_xid_age)
  > on (instance, instance_id) group_left () (1.5 * pga_setting{name="autovacuum_freeze_max_age"})`,
      for: '30m',
      severity: 'warning',
      summary: 'Anti-wraparound vacuum falls behind in {{ $labels.datname }} on {{ $labels.instance }}',
      description:
        'The oldest transaction ID of {{ $labels.datname }} is {{ $value | humanize }} old, 1.5 times autovacuum_freeze_max_age: forced vacuums do not finish.',
      cause:
        'Anti-wraparound autovacuums are throttled, cancelled, or blocked by something holding the xmin horizon.',
      runbook: [
        'See PostgreSQLXidWraparoundWarning; check autovacuum workers in the activity dashboard (sessions by backend type).',
      ],
      test: {
        fires: [
          series('pga_database_xid_age', { ...bad, ...app }, '400000000x40'),
          series('pga_setting', { ...bad, name: 'autovacuum_freeze_max_age' }, '200000000x40'),
        ],
        silent: [
          series('pga_database_xid_age', { ...good, ...app }, '100000000x40'),
          series('pga_setting', { ...good, name: 'autovacuum_freeze_max_age' }, '200000000x40'),
        ],
        at: '35m',
        labels: { ...bad, ...app },
        value: 400_000_000,
      },
    },
    {
      alert: 'PostgreSQLTableDeadRowsHigh',
      expr: `pga_tables_n_dead_tup > 1000000
and pga_tables_n_dead_tup / (pga_tables_n_live_tup + pga_tables_n_dead_tup) > 0.2`,
      for: '30m',
      severity: 'warning',
      summary: 'Table {{ $labels.schemaname }}.{{ $labels.relname }} is full of dead rows',
      description:
        '{{ $labels.datname }}.{{ $labels.schemaname }}.{{ $labels.relname }} on {{ $labels.instance }} has {{ $value | humanize }} dead rows, over 20 % of its rows.',
      cause:
        'Autovacuum does not keep up with updates and deletes, or cannot remove rows a long transaction or slot still sees.',
      runbook: [
        'Check for an old transaction or slot first (they make vacuum useless).',
        'Lower the table’s `autovacuum_vacuum_scale_factor` (e.g. 0.02) and raise `autovacuum_vacuum_cost_limit`.',
      ],
      test: {
        at: '35m',
        fires: [
          series('pga_tables_n_dead_tup', { ...bad, ...orders }, '3000000x40'),
          series('pga_tables_n_live_tup', { ...bad, ...orders }, '5000000x40'),
        ],
        silent: [
          series('pga_tables_n_dead_tup', { ...good, ...orders }, '2000000x40'),
          series('pga_tables_n_live_tup', { ...good, ...orders }, '100000000x40'),
        ],
        labels: { ...bad, ...orders },
        value: 3_000_000,
      },
    },
    {
      alert: 'PostgreSQLAutovacuumNotRunning',
      expr: `pga_tables_n_dead_tup > 100000
unless on (instance_id, datname, schemaname, relname) (time() - pga_tables_last_autovacuum_timestamp_seconds < 86400)`,
      for: '1h',
      severity: 'warning',
      summary: 'No autovacuum on {{ $labels.schemaname }}.{{ $labels.relname }} for a day',
      description:
        '{{ $labels.datname }}.{{ $labels.schemaname }}.{{ $labels.relname }} on {{ $labels.instance }} has {{ $value | humanize }} dead rows and no autovacuum in 24 hours.',
      cause:
        'autovacuum is off (globally or for the table), all workers are busy on big tables, or its runs are cancelled by lock conflicts.',
      runbook: [
        "`select relname, reloptions from pg_class where relname = '<table>'` and `show autovacuum`.",
        'Workers busy: raise autovacuum_max_workers; cancelled runs show in the log with log_autovacuum_min_duration.',
      ],
      test: {
        at: '90m',
        fires: [series('pga_tables_n_dead_tup', { ...bad, ...orders }, '500000x100')],
        silent: [
          series('pga_tables_n_dead_tup', { ...good, ...orders }, '500000x100'),
          series('pga_tables_last_autovacuum_timestamp_seconds', { ...good, ...orders }, '5000x100'),
        ],
        labels: { ...bad, ...orders },
        value: 500_000,
      },
    },
    {
      alert: 'PostgreSQLTableFreezeAgeHigh',
      expr: 'pga_tables_frozenxid_age > on (instance, instance_id) group_left () (1.2 * pga_setting{name="autovacuum_freeze_max_age"})',
      for: '1h',
      severity: 'warning',
      summary: 'Table {{ $labels.schemaname }}.{{ $labels.relname }} is overdue for freezing',
      description:
        'relfrozenxid of {{ $labels.datname }}.{{ $labels.schemaname }}.{{ $labels.relname }} is {{ $value | humanize }} old, past autovacuum_freeze_max_age: its anti-wraparound vacuum has not finished.',
      cause: 'A large table whose forced vacuum is slow or keeps being interrupted.',
      runbook: ['Run `VACUUM (FREEZE, VERBOSE) <table>` at a quiet time; watch it in "Vacuums running".'],
      test: {
        at: '70m',
        fires: [
          series('pga_tables_frozenxid_age', { ...bad, ...orders }, '300000000x80'),
          series('pga_setting', { ...bad, name: 'autovacuum_freeze_max_age' }, '200000000x80'),
        ],
        silent: [
          series('pga_tables_frozenxid_age', { ...good, ...orders }, '100000000x80'),
          series('pga_setting', { ...good, name: 'autovacuum_freeze_max_age' }, '200000000x80'),
        ],
        labels: { ...bad, ...orders },
        value: 300_000_000,
      },
    },
    {
      alert: 'PostgreSQLVacuumRunningLong',
      expr: 'max by (instance, instance_id, datname, relation) (pga_vacuum_progress_running_seconds) > 21600',
      severity: 'info',
      summary: 'A vacuum of {{ $labels.relation }} has run for {{ $value | humanizeDuration }}',
      description:
        'Vacuum of {{ $labels.relation }} in {{ $labels.datname }} on {{ $labels.instance }} has been running for {{ $value | humanizeDuration }}.',
      cause:
        'A very large table, cost-based throttling, or many index passes (maintenance_work_mem too small).',
      runbook: [
        'Tables and indexes dashboard, "Vacuums running": phase and index passes; more than one pass wants more maintenance_work_mem.',
      ],
      test: {
        fires: [
          series(
            'pga_vacuum_progress_running_seconds',
            { ...bad, pid: '4242', ...app, relation: 'orders', phase: 'vacuuming indexes' },
            '30000x30',
          ),
        ],
        silent: [
          series(
            'pga_vacuum_progress_running_seconds',
            { ...good, pid: '4343', ...app, relation: 'orders', phase: 'scanning heap' },
            '100x30',
          ),
        ],
        labels: { ...bad, ...app, relation: 'orders' },
        value: 30_000,
      },
    },
  ],
}
