// The collector's own Prometheus metrics, registered on the service registry (/metrics).
import type { MetricsRegistry } from '../platform/metrics/registry.ts'

export type CollectorMetrics = ReturnType<typeof createCollectorMetrics>

export function createCollectorMetrics(registry: MetricsRegistry, ownedInstances: () => number) {
  registry.gauge(
    'pga_collector_instances_owned',
    'Monitored instances this replica collects (holds the lease of).',
    () => [{ labels: {}, value: ownedInstances() }],
  )
  return {
    duration: registry.histogram(
      'pga_collector_duration_seconds',
      'Time to collect and store one snapshot, by group.',
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    ),
    lag: registry.histogram(
      'pga_collector_lag_seconds',
      'How late a collection started after it was due, by group.',
      [0.1, 0.5, 1, 2, 5, 10, 30, 60, 300],
    ),
    snapshots: registry.counter('pga_collector_snapshots_total', 'Snapshots stored, by group and status.'),
    failures: registry.counter(
      'pga_collector_failures_total',
      'Failed collections by group and reason (connection_refused, query_timeout, ...).',
    ),
    leaseChanges: registry.counter(
      'pga_collector_lease_changes_total',
      'Instances this replica took over (acquired) or gave up (lost, released).',
    ),
  }
}
