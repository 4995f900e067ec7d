// Alerts on pganalytics itself, from each replica's /metrics: a replica down or not ready, its
// store or Redis unreachable, a blocked event loop, collections failing or late, snapshots not
// stored, the audit sealer behind, agent batches refused.
import { type AlertGroup, replicaA as a, replicaB as b, series } from '../types.ts'

export const serviceAlerts: AlertGroup = {
  name: 'pganalytics-service',
  title: 'The pganalytics service',
  intro: 'From each replica’s `/metrics` (job `pganalytics-service` in prometheus/prometheus.yml).',
  alerts: [
    {
      alert: 'PgaServiceDown',
      expr: 'up{job="pganalytics-service"} == 0',
      for: '2m',
      severity: 'critical',
      summary: 'pganalytics replica {{ $labels.instance }} is down',
      description: 'Prometheus has not been able to scrape {{ $labels.instance }} for 2 minutes.',
      cause: 'The process exited or hangs, the host is down, or the network between Prometheus and it fails.',
      runbook: [
        'Check the process (`systemctl status pganalytics`, or the pod) and its last log lines.',
        'A replica that exits at start says why on stderr (exit code 2: configuration, 1: a dependency).',
        'The balancer sends traffic to the other replicas meanwhile (docs/FAILOVER_PROCEDURES.md).',
      ],
      test: { fires: [series('up', a, '0x30')], silent: [series('up', b, '1x30')], labels: a, value: 0 },
    },
    {
      alert: 'PgaReplicaNotReady',
      expr: 'pga_ready == 0',
      for: '5m',
      severity: 'warning',
      summary: 'pganalytics replica {{ $labels.instance }} is not ready',
      description: '{{ $labels.instance }} answers /readyz with 503 for 5 minutes: it receives no traffic.',
      cause:
        'Start-up is stuck (migrations waiting for the advisory lock, the keyring not opening) or the replica is draining.',
      runbook: [
        'Read its log: start-up logs each step; a migration lock held by another replica shows as a wait.',
        'A wrong master key stops start-up with both fingerprints named (docs/ENCRYPTION.md).',
      ],
      test: {
        fires: [series('pga_ready', a, '0x30')],
        silent: [series('pga_ready', b, '1x30')],
        labels: a,
        value: 0,
      },
    },
    {
      alert: 'PgaStoreUnavailable',
      expr: 'pga_dependency_up{dependency="store"} == 0',
      for: '1m',
      severity: 'critical',
      summary: 'pganalytics cannot reach its store from {{ $labels.instance }}',
      description:
        'The PostgreSQL store does not answer the health check of {{ $labels.instance }}; the API answers 503 store_unavailable and no snapshot is stored.',
      cause:
        'The store is down, fails over, refuses connections (max_connections) or the network to it fails.',
      runbook: [
        'Check the store server and its log; `pg_isready -h <store>` from the replica host.',
        'After a failover, check DATABASE_URL points at the new primary (or a proxy that follows it).',
        'Collections resume by themselves; history has a gap for the outage.',
      ],
      test: {
        fires: [series('pga_dependency_up', { ...a, dependency: 'store', kind: 'postgres' }, '0x30')],
        silent: [series('pga_dependency_up', { ...b, dependency: 'store', kind: 'postgres' }, '1x30')],
        labels: { ...a, dependency: 'store', kind: 'postgres' },
        value: 0,
      },
    },
    {
      alert: 'PgaStateStoreUnavailable',
      expr: 'pga_dependency_up{dependency="state"} == 0',
      for: '1m',
      severity: 'critical',
      summary: 'pganalytics cannot reach Redis from {{ $labels.instance }}',
      description:
        'Redis does not answer {{ $labels.instance }}: sign-in, sessions, Idempotency-Key requests and collector leases fail (503 state_store_unavailable).',
      cause: 'Redis is down or failing over, or the network to it fails.',
      runbook: [
        'Check Redis (`redis-cli -h <host> ping`), Sentinel or Cluster state.',
        'Reads with access tokens keep working; writes with an Idempotency-Key and sign-ins wait for Redis.',
      ],
      test: {
        fires: [series('pga_dependency_up', { ...a, dependency: 'state', kind: 'redis' }, '0x30')],
        silent: [series('pga_dependency_up', { ...b, dependency: 'state', kind: 'redis' }, '1x30')],
        labels: { ...a, dependency: 'state', kind: 'redis' },
        value: 0,
      },
    },
    {
      alert: 'PgaEventLoopBlocked',
      expr: 'pga_event_loop_lag_seconds > 0.5',
      for: '5m',
      severity: 'warning',
      summary: 'pganalytics replica {{ $labels.instance }} has a blocked event loop',
      description:
        'Timers fire {{ $value | humanizeDuration }} late on {{ $labels.instance }}: every request waits that long.',
      cause:
        'The replica is CPU-starved (CPU limit, noisy neighbour) or runs something synchronous and long.',
      runbook: [
        'Compare with the host or container CPU; raise the CPU limit or add replicas.',
        'A heap close to the memory limit makes the garbage collector run constantly: check process_resident_memory_bytes.',
      ],
      test: {
        fires: [series('pga_event_loop_lag_seconds', a, '0.8x30')],
        silent: [series('pga_event_loop_lag_seconds', b, '0.01x30')],
        labels: a,
        value: 0.8,
      },
    },
    {
      alert: 'PgaCollectorFailing',
      expr: 'sum by (job, instance, group, reason) (increase(pga_collector_failures_total{reason!~"unavailable|connection_.+|store"}[15m])) > 3',
      for: '15m',
      severity: 'warning',
      summary: 'The {{ $labels.group }} group keeps failing ({{ $labels.reason }})',
      description:
        'Collections of {{ $labels.group }} on {{ $labels.instance }} failed more than 3 times in 15 minutes with {{ $labels.reason }}.',
      cause:
        'A query times out (query_timeout, lock_timeout) or errors (query_failed_<sqlstate>, privilege) on some monitored instance.',
      runbook: [
        '`GET /api/v1/instances/{id}/snapshots?status=failed&group=<group>` names the instance and the error.',
        'query_timeout on tables/indexes: many relations; raise PGA_COLLECTOR_STATEMENT_TIMEOUT or the group interval.',
        'privilege: grant pg_monitor to the monitoring login.',
      ],
      test: {
        at: '35m',
        fires: [
          series(
            'pga_collector_failures_total',
            { ...a, group: 'tables', reason: 'query_timeout' },
            '0+1x40',
          ),
        ],
        silent: [
          series('pga_collector_failures_total', { ...b, group: 'io', reason: 'unavailable' }, '0+1x40'),
        ],
        labels: { ...a, group: 'tables', reason: 'query_timeout' },
        value: 15,
      },
    },
    {
      alert: 'PgaSnapshotsNotStored',
      expr: 'sum by (job, instance) (increase(pga_collector_failures_total{reason="store"}[10m])) > 0',
      for: '5m',
      severity: 'critical',
      summary: 'pganalytics replica {{ $labels.instance }} cannot store snapshots',
      description:
        'Snapshots collected by {{ $labels.instance }} were lost because the store rejected the write.',
      cause:
        'The store is read-only (a standby after failover), full, or refuses the write (a missing partition that could not be created).',
      runbook: [
        'Read the replica log for "could not store snapshot" and its error.',
        'Disk full on the store: free space, or lower PGA_RETENTION_DAYS so older partitions are dropped.',
      ],
      test: {
        fires: [
          series('pga_collector_failures_total', { ...a, group: 'database', reason: 'store' }, '0+1x30'),
        ],
        silent: [
          series('pga_collector_failures_total', { ...b, group: 'database', reason: 'store' }, '5x30'),
        ],
        labels: a,
        value: 10,
      },
    },
    {
      alert: 'PgaCollectorLagging',
      expr: 'histogram_quantile(0.9, sum by (job, instance, le) (rate(pga_collector_lag_seconds_bucket[10m]))) > 30',
      for: '15m',
      severity: 'warning',
      summary: 'Collections start late on {{ $labels.instance }}',
      description:
        'On {{ $labels.instance }}, 10 % of collections start more than {{ $value | humanizeDuration }} after they were due.',
      cause:
        'More instance rounds than PGA_COLLECTOR_CONCURRENCY slots can run per interval, or slow instances hold the slots.',
      runbook: [
        'Raise PGA_COLLECTOR_CONCURRENCY or add replicas (instances spread by lease).',
        'Look for instances at their connect timeout: they occupy a slot for the whole deadline.',
      ],
      test: {
        fires: [
          series('pga_collector_lag_seconds_bucket', { ...a, le: '30' }, '0+1x40'),
          series('pga_collector_lag_seconds_bucket', { ...a, le: '60' }, '0+10x40'),
          series('pga_collector_lag_seconds_bucket', { ...a, le: '+Inf' }, '0+10x40'),
        ],
        silent: [
          series('pga_collector_lag_seconds_bucket', { ...b, le: '30' }, '0+10x40'),
          series('pga_collector_lag_seconds_bucket', { ...b, le: '60' }, '0+10x40'),
          series('pga_collector_lag_seconds_bucket', { ...b, le: '+Inf' }, '0+10x40'),
        ],
        labels: a,
        value: 56.666666666666664,
      },
    },
    {
      alert: 'PgaAuditSealerLagging',
      expr: 'pga_audit_outbox_oldest_seconds > 300',
      for: '5m',
      severity: 'warning',
      summary: 'Audit events wait to be sealed',
      description:
        'The oldest audit event waiting in the outbox is {{ $value | humanizeDuration }} old ({{ $labels.instance }}).',
      cause:
        'The sealer is slow or stopped: no replica holds its lease, signing fails, or the store is slow.',
      runbook: [
        'Read the logs for "audit sealer"; `pganalytics audit verify` checks the chain.',
        'Events are not lost while they wait: they are in the store’s outbox.',
      ],
      test: {
        fires: [series('pga_audit_outbox_oldest_seconds', a, '600x30')],
        silent: [series('pga_audit_outbox_oldest_seconds', b, '2x30')],
        labels: a,
        value: 600,
      },
    },
    {
      alert: 'PgaAuditSealerStopped',
      expr: 'pga_audit_outbox_oldest_seconds > 3600',
      for: '5m',
      severity: 'critical',
      summary: 'The audit sealer has stopped',
      description:
        'An audit event has waited {{ $value | humanizeDuration }} to be sealed ({{ $labels.instance }}): compliance reports and checkpoints are behind.',
      cause:
        'No replica runs the sealer (Redis lease unavailable), or sealing fails on every attempt (signing key unreadable).',
      runbook: [
        'Check Redis and the replicas’ logs for sealer errors.',
        'A keyring problem (master key) shows at start-up and in the sealer’s error.',
      ],
      test: {
        fires: [series('pga_audit_outbox_oldest_seconds', a, '7200x30')],
        silent: [series('pga_audit_outbox_oldest_seconds', b, '600x30')],
        labels: a,
        value: 7200,
      },
    },
    {
      alert: 'PgaAgentBatchesRefused',
      expr: 'sum by (job, instance) (increase(pga_agent_batches_total{status="refused"}[10m])) > 0',
      severity: 'warning',
      summary: 'Host agents are refused by {{ $labels.instance }}',
      description:
        'An agent pushed with a key that may not push for the batch’s instance (auth.access_denied in the audit trail).',
      cause: 'An agent configured with another instance’s id or key, or a non-agent key used by an agent.',
      runbook: [
        'Search the audit trail for auth.access_denied with permission agent:push: it names the key.',
        'Give the agent the key bound to its own instance (docs/AGENT.md).',
      ],
      test: {
        fires: [series('pga_agent_batches_total', { ...a, status: 'refused' }, '0+1x30')],
        silent: [series('pga_agent_batches_total', { ...b, status: 'refused' }, '3x30')],
        labels: a,
        value: 10,
      },
    },
  ],
}
