// Alerts on the monitored instances, from /metrics/instances: down or not collected, the host
// agent silent, connections against max_connections.
import { type AlertGroup, bad, good, series } from '../types.ts'

export const instanceAlerts: AlertGroup = {
  name: 'postgresql-instances',
  title: 'Instances, collection and connections',
  intro:
    'From `/metrics/instances` (job `pganalytics-instances`): `instance` is the monitored instance’s name in pganalytics.',
  alerts: [
    {
      alert: 'PostgreSQLInstanceDown',
      expr: 'pga_collect_success{group="database"} == 0',
      for: '2m',
      severity: 'critical',
      summary: 'PostgreSQL instance {{ $labels.instance }} cannot be collected',
      description:
        'The last collections of {{ $labels.instance }} failed: the server is down or refuses the monitoring login.',
      cause:
        'The server is down or restarting, the network or DNS fails, TLS or authentication of the monitoring login fails.',
      runbook: [
        '`GET /api/v1/instances/{id}/snapshots?status=failed` gives the reason: connection_refused, connection_timeout, connection_protocol_error (something other than PostgreSQL listens there), connection_dns, connection_auth, connection_tls, instance_host_not_allowed (PGA_INSTANCE_HOSTS_ALLOW/_DENY refuse its host).',
        'refused or timeout: is PostgreSQL running and listening (`pg_isready -h <host> -p <port>`)?',
        'auth: the monitoring password changed; update it with PATCH /api/v1/instances/{id}.',
      ],
      test: {
        fires: [series('pga_collect_success', { ...bad, group: 'database' }, '0x30')],
        silent: [series('pga_collect_success', { ...good, group: 'database' }, '1x30')],
        labels: { ...bad, group: 'database' },
        value: 0,
      },
    },
    {
      alert: 'PostgreSQLCollectionStale',
      expr: 'pga_collect_age_seconds{group="database"} > 600',
      for: '5m',
      severity: 'warning',
      summary: 'PostgreSQL instance {{ $labels.instance }} is not being collected',
      description:
        'The last collection of {{ $labels.instance }} is {{ $value | humanizeDuration }} old: no replica collects it.',
      cause:
        'Every pganalytics replica is down or has its collector off (PGA_COLLECTOR_ENABLED), the instance is disabled, or leases cannot be taken (Redis).',
      runbook: [
        'Check pga_collector_instances_owned on the replicas and their logs ("collecting instance").',
        'A disabled instance stops being collected on purpose: re-enable it or delete it.',
      ],
      test: {
        fires: [series('pga_collect_age_seconds', { ...bad, group: 'database' }, '1800x30')],
        silent: [series('pga_collect_age_seconds', { ...good, group: 'database' }, '40x30')],
        labels: { ...bad, group: 'database' },
        value: 1800,
      },
    },
    {
      alert: 'PostgreSQLHostAgentSilent',
      expr: 'pga_collect_age_seconds{group="system_cpu"} > 120',
      for: '5m',
      severity: 'warning',
      summary: 'The host agent of {{ $labels.instance }} stopped pushing',
      description: 'No host metrics from {{ $labels.instance }} for {{ $value | humanizeDuration }}.',
      cause:
        'The agent stopped, its host is down, it cannot reach pganalytics (it buffers on disk meanwhile) or its key was revoked.',
      runbook: [
        'On the host: `systemctl status pganalytics-agent` and its log ("cannot deliver host metrics" names the problem).',
        'Refused (401/403): create a new agent key for the instance (docs/AGENT.md); the queue replays once it is accepted.',
      ],
      test: {
        fires: [series('pga_collect_age_seconds', { ...bad, group: 'system_cpu' }, '900x30')],
        silent: [series('pga_collect_age_seconds', { ...good, group: 'system_cpu' }, '10x30')],
        labels: { ...bad, group: 'system_cpu' },
        value: 900,
      },
    },
    {
      alert: 'PostgreSQLConnectionsHigh',
      expr: 'sum by (instance, instance_id) (pga_database_numbackends) / on (instance, instance_id) pga_setting{name="max_connections"} > 0.85',
      for: '5m',
      severity: 'warning',
      summary: 'PostgreSQL {{ $labels.instance }} uses most of max_connections',
      description:
        '{{ $value | humanizePercentage }} of max_connections are in use on {{ $labels.instance }}.',
      cause:
        'More clients or longer sessions than usual: a connection leak, a pool sized too large, sessions stuck idle in transaction.',
      runbook: [
        'Activity and locks dashboard: sessions by state; many idle sessions mean pools larger than needed.',
        'Put a pooler (PgBouncer) in front, or lower the application pools; raise max_connections only with memory to spare.',
      ],
      test: {
        fires: [
          series('pga_database_numbackends', { ...bad, datname: 'app' }, '90x30'),
          series('pga_database_numbackends', { ...bad, datname: 'postgres' }, '2x30'),
          series('pga_setting', { ...bad, name: 'max_connections' }, '100x30'),
        ],
        silent: [
          series('pga_database_numbackends', { ...good, datname: 'app' }, '10x30'),
          series('pga_setting', { ...good, name: 'max_connections' }, '100x30'),
        ],
        labels: bad,
        value: 0.92,
      },
    },
    {
      alert: 'PostgreSQLConnectionsExhausted',
      expr: 'sum by (instance, instance_id) (pga_database_numbackends) / on (instance, instance_id) pga_setting{name="max_connections"} > 0.95',
      for: '2m',
      severity: 'critical',
      summary: 'PostgreSQL {{ $labels.instance }} is about to refuse connections',
      description:
        '{{ $value | humanizePercentage }} of max_connections are in use on {{ $labels.instance }}: new clients get "too many clients".',
      cause: 'As for PostgreSQLConnectionsHigh, at the limit.',
      runbook: [
        'Find who holds connections: sessions by user and application in the activity dashboard.',
        'End idle-in-transaction sessions (`pg_terminate_backend`) if they block the rest.',
      ],
      test: {
        fires: [
          series('pga_database_numbackends', { ...bad, datname: 'app' }, '97x30'),
          series('pga_database_numbackends', { ...bad, datname: 'postgres' }, '1x30'),
          series('pga_setting', { ...bad, name: 'max_connections' }, '100x30'),
        ],
        silent: [
          series('pga_database_numbackends', { ...good, datname: 'app' }, '90x30'),
          series('pga_setting', { ...good, name: 'max_connections' }, '100x30'),
        ],
        labels: bad,
        value: 0.98,
      },
    },
  ],
}
