// Alerts on what sessions do, from /metrics/instances: old transactions, idle in transaction, long
// queries, sessions waiting on locks, deadlocks, rollbacks, sessions ending in FATAL.
import { type AlertGroup, bad, good, series } from '../types.ts'

const client = { backend_type: 'client backend' }

export const transactionAlerts: AlertGroup = {
  name: 'postgresql-transactions',
  title: 'Transactions, locks and sessions',
  intro:
    'From `/metrics/instances`: the activity group (sessions by state and wait, their oldest transaction and query) and pg_stat_database counters.',
  alerts: [
    {
      alert: 'PostgreSQLLongTransaction',
      expr: 'max by (instance, instance_id) (pga_activity_max_xact_age_seconds{backend_type="client backend"}) > 3600',
      for: '5m',
      severity: 'warning',
      summary: 'A transaction on {{ $labels.instance }} has been open for {{ $value | humanizeDuration }}',
      description:
        'The oldest client transaction on {{ $labels.instance }} is {{ $value | humanizeDuration }} old: vacuum cannot remove rows newer than it.',
      cause:
        'A batch job, a forgotten interactive session, or an application holding a transaction across slow work.',
      runbook: [
        'Activity and locks dashboard: oldest transaction; `select pid, usename, application_name, xact_start, state, query from pg_stat_activity order by xact_start limit 5`.',
        'If it is not needed: `select pg_terminate_backend(<pid>)`.',
      ],
      test: {
        fires: [
          series('pga_activity_max_xact_age_seconds', { ...bad, ...client, state: 'active' }, '5400x30'),
        ],
        silent: [
          series('pga_activity_max_xact_age_seconds', { ...good, ...client, state: 'active' }, '60x30'),
        ],
        labels: bad,
        value: 5400,
      },
    },
    {
      alert: 'PostgreSQLVeryLongTransaction',
      expr: 'max by (instance, instance_id) (pga_activity_max_xact_age_seconds{backend_type="client backend"}) > 14400',
      for: '5m',
      severity: 'critical',
      summary: 'A transaction on {{ $labels.instance }} has been open for {{ $value | humanizeDuration }}',
      description:
        'A client transaction on {{ $labels.instance }} is {{ $value | humanizeDuration }} old: dead rows pile up in every table it could see, and wraparound age grows.',
      cause: 'As for PostgreSQLLongTransaction, for hours.',
      runbook: [
        'Terminate it unless it is a known long job: `select pg_terminate_backend(<pid>)`.',
        'Prevent it: `idle_in_transaction_session_timeout`, and `transaction_timeout` from PostgreSQL 17.',
      ],
      test: {
        fires: [
          series('pga_activity_max_xact_age_seconds', { ...bad, ...client, state: 'active' }, '21600x30'),
        ],
        silent: [
          series('pga_activity_max_xact_age_seconds', { ...good, ...client, state: 'active' }, '5400x30'),
        ],
        labels: bad,
        value: 21600,
      },
    },
    {
      alert: 'PostgreSQLIdleInTransaction',
      expr: 'max by (instance, instance_id, datname, usename) (pga_activity_max_state_age_seconds{state=~"idle in transaction.*"}) > 600',
      for: '5m',
      severity: 'warning',
      summary: '{{ $labels.usename }} is idle in transaction on {{ $labels.instance }}',
      description:
        'A session of {{ $labels.usename }} in {{ $labels.datname }} has been idle in transaction for {{ $value | humanizeDuration }}, holding its locks and snapshot.',
      cause:
        'An application opened a transaction and waits on something else (a remote call, a user) before committing.',
      runbook: [
        'Blocking chains in the activity dashboard show whom it blocks.',
        'Set `idle_in_transaction_session_timeout` for that role, and fix the application’s transaction scope.',
      ],
      test: {
        fires: [
          series(
            'pga_activity_max_state_age_seconds',
            { ...bad, datname: 'app', usename: 'web', ...client, state: 'idle in transaction' },
            '1200x30',
          ),
        ],
        silent: [
          series(
            'pga_activity_max_state_age_seconds',
            { ...good, datname: 'app', usename: 'web', ...client, state: 'idle in transaction' },
            '30x30',
          ),
        ],
        labels: { ...bad, datname: 'app', usename: 'web' },
        value: 1200,
      },
    },
    {
      alert: 'PostgreSQLLongRunningQuery',
      expr: 'max by (instance, instance_id, datname, usename) (pga_activity_max_query_age_seconds{backend_type="client backend"}) > 1800',
      for: '5m',
      severity: 'warning',
      summary:
        'A query of {{ $labels.usename }} has run for {{ $value | humanizeDuration }} on {{ $labels.instance }}',
      description:
        'A query in {{ $labels.datname }} by {{ $labels.usename }} has been running for {{ $value | humanizeDuration }}.',
      cause:
        'A missing index, a bad plan after stale statistics, a report on a busy primary, or a query waiting on a lock.',
      runbook: [
        'Query performance dashboard: its statement and mean time; `EXPLAIN` it.',
        'Cancel it if harmful: `select pg_cancel_backend(<pid>)`; set `statement_timeout` for the role.',
      ],
      test: {
        fires: [
          series(
            'pga_activity_max_query_age_seconds',
            { ...bad, datname: 'app', usename: 'report', ...client, state: 'active' },
            '3600x30',
          ),
        ],
        silent: [
          series(
            'pga_activity_max_query_age_seconds',
            { ...good, datname: 'app', usename: 'report', ...client, state: 'active' },
            '12x30',
          ),
        ],
        labels: { ...bad, datname: 'app', usename: 'report' },
        value: 3600,
      },
    },
    {
      alert: 'PostgreSQLSessionsWaitingOnLocks',
      expr: 'sum by (instance, instance_id) (pga_activity_sessions{wait_event_type="Lock"}) > 5',
      for: '5m',
      severity: 'warning',
      summary: '{{ $value | humanize }} sessions wait on locks on {{ $labels.instance }}',
      description:
        '{{ $value | humanize }} sessions on {{ $labels.instance }} have been waiting for locks for 5 minutes.',
      cause:
        'A long transaction or DDL (ALTER TABLE, VACUUM FULL) holds a lock others need; often a session idle in transaction.',
      runbook: [
        'Blocking chains in the activity dashboard (or `GET /metrics/instances?groups=locks`) show the root blocker and its query.',
        'End the root blocker if it is safe: `select pg_terminate_backend(<pid>)`.',
      ],
      test: {
        fires: [
          series(
            'pga_activity_sessions',
            {
              ...bad,
              datname: 'app',
              ...client,
              state: 'active',
              wait_event_type: 'Lock',
              wait_event: 'relation',
            },
            '8x30',
          ),
        ],
        silent: [
          series(
            'pga_activity_sessions',
            {
              ...good,
              datname: 'app',
              ...client,
              state: 'active',
              wait_event_type: 'Lock',
              wait_event: 'relation',
            },
            '1x30',
          ),
        ],
        labels: bad,
        value: 8,
      },
    },
    {
      alert: 'PostgreSQLSessionsBlocked',
      expr: 'sum by (instance, instance_id) (pga_activity_sessions{wait_event_type="Lock"}) > 20',
      for: '5m',
      severity: 'critical',
      summary: '{{ $value | humanize }} sessions are blocked on {{ $labels.instance }}',
      description:
        '{{ $value | humanize }} sessions on {{ $labels.instance }} wait for locks: the application is mostly stalled.',
      cause: 'As for PostgreSQLSessionsWaitingOnLocks, at a scale that stops the application.',
      runbook: [
        'Find and end the root blocker (blocking chains).',
        'Afterwards: DDL with `lock_timeout`, shorter transactions.',
      ],
      test: {
        fires: [
          series(
            'pga_activity_sessions',
            {
              ...bad,
              datname: 'app',
              ...client,
              state: 'active',
              wait_event_type: 'Lock',
              wait_event: 'tuple',
            },
            '30x30',
          ),
        ],
        silent: [
          series(
            'pga_activity_sessions',
            {
              ...good,
              datname: 'app',
              ...client,
              state: 'active',
              wait_event_type: 'Lock',
              wait_event: 'tuple',
            },
            '8x30',
          ),
        ],
        labels: bad,
        value: 30,
      },
    },
    {
      alert: 'PostgreSQLDeadlocks',
      expr: 'sum by (instance, instance_id, datname) (increase(pga_database_deadlocks_total[15m])) > 3',
      severity: 'warning',
      summary: 'Deadlocks in {{ $labels.datname }} on {{ $labels.instance }}',
      description:
        'More than 3 deadlocks in 15 minutes in {{ $labels.datname }}: transactions are rolled back.',
      cause: 'Transactions take the same locks in different orders.',
      runbook: [
        'The server log has each deadlock with both statements (`log_lock_waits = on` helps).',
        'Make the application lock rows in one order (e.g. by primary key), or retry on SQLSTATE 40P01.',
      ],
      test: {
        fires: [series('pga_database_deadlocks_total', { ...bad, datname: 'app' }, '0+1x30')],
        silent: [series('pga_database_deadlocks_total', { ...good, datname: 'app' }, '2x30')],
        labels: { ...bad, datname: 'app' },
        value: 15,
      },
    },
    {
      alert: 'PostgreSQLRollbacksHigh',
      expr: `sum by (instance, instance_id, datname) (rate(pga_database_xact_rollback_total[15m]))
  / sum by (instance, instance_id, datname) (rate(pga_database_xact_commit_total[15m]) + rate(pga_database_xact_rollback_total[15m])) > 0.2
and sum by (instance, instance_id, datname) (rate(pga_database_xact_commit_total[15m]) + rate(pga_database_xact_rollback_total[15m])) > 1`,
      for: '15m',
      severity: 'warning',
      summary: 'Many rollbacks in {{ $labels.datname }} on {{ $labels.instance }}',
      description: '{{ $value | humanizePercentage }} of transactions in {{ $labels.datname }} roll back.',
      cause:
        'Application errors (constraint violations, serialization failures, deadlocks) or a client that rolls back by design.',
      runbook: [
        'The server log (log_min_error_statement) shows the failing statements.',
        'Serialization failures under SERIALIZABLE or REPEATABLE READ are expected: check the client retries.',
      ],
      test: {
        at: '35m',
        fires: [
          series('pga_database_xact_commit_total', { ...bad, datname: 'app' }, '0+60x40'),
          series('pga_database_xact_rollback_total', { ...bad, datname: 'app' }, '0+60x40'),
        ],
        silent: [
          series('pga_database_xact_commit_total', { ...good, datname: 'app' }, '0+600x40'),
          series('pga_database_xact_rollback_total', { ...good, datname: 'app' }, '0+6x40'),
        ],
        labels: { ...bad, datname: 'app' },
        value: 0.5,
      },
    },
    {
      alert: 'PostgreSQLFatalSessions',
      expr: 'sum by (instance, instance_id, datname) (increase(pga_database_sessions_fatal_total[10m])) > 10',
      severity: 'warning',
      summary: 'Sessions end with FATAL errors in {{ $labels.datname }} on {{ $labels.instance }}',
      description:
        'More than 10 sessions in 10 minutes ended by a FATAL error in {{ $labels.datname }} (PostgreSQL 14+).',
      cause:
        'Clients are terminated (pg_terminate_backend, idle timeouts), lose their connection, or hit resource limits.',
      runbook: [
        'The server log has the FATAL lines; network resets show as "could not receive data from client".',
      ],
      test: {
        fires: [series('pga_database_sessions_fatal_total', { ...bad, datname: 'app' }, '0+5x30')],
        silent: [series('pga_database_sessions_fatal_total', { ...good, datname: 'app' }, '0x30')],
        labels: { ...bad, datname: 'app' },
        value: 50,
      },
    },
  ],
}
