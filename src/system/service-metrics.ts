// The service's own Prometheus metrics: HTTP, event loop, process memory, store and state-store
// health. Dependency gauges are collected at scrape time from one bounded health check.
import type { Database } from '../platform/db/database.ts'
import { monitorEventLoopLag } from '../platform/metrics/event-loop-lag.ts'
import { type Histogram, MetricsRegistry } from '../platform/metrics/registry.ts'
import type { StateStore } from '../platform/state/state-store.ts'
import type { BuildInfo } from './build-info.ts'
import { checkHealth, type HealthReport } from './health.ts'
import type { Lifecycle } from './lifecycle.ts'

export type ServiceMetrics = { registry: MetricsRegistry; httpDurations: Histogram; stop(): void }

export function createServiceMetrics(deps: {
  db: Database
  state: StateStore
  lifecycle: Lifecycle
  build: BuildInfo
}): ServiceMetrics {
  const registry = new MetricsRegistry()
  const lag = monitorEventLoopLag()
  const startedAt = Date.now() / 1000
  // One health check per scrape, shared by the gauges below.
  let pending: { at: number; report: Promise<HealthReport> } | undefined
  const health = () => {
    if (!pending || Date.now() - pending.at > 1000) pending = { at: Date.now(), report: checkHealth(deps) }
    return pending.report
  }

  const httpDurations = registry.histogram(
    'pga_http_request_duration_seconds',
    'Duration of HTTP requests by method, matched route and status.',
    [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  )
  registry.gauge('pga_http_requests_in_flight', 'HTTP requests being served now.', () => [
    { labels: {}, value: deps.lifecycle.inFlight },
  ])
  registry.gauge(
    'pga_ready',
    '1 when the replica accepts traffic (ready), 0 while starting or draining.',
    () => [{ labels: {}, value: deps.lifecycle.phase === 'ready' ? 1 : 0 }],
  )
  registry.gauge('pga_event_loop_lag_seconds', 'How late the last event-loop timer fired.', () => [
    { labels: {}, value: lag.lastMs() / 1000 },
  ])
  registry.gauge('pga_event_loop_lag_max_seconds', 'Largest event-loop lag seen since start.', () => [
    { labels: {}, value: lag.maxMs() / 1000 },
  ])
  registry.gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', () => [
    { labels: {}, value: process.memoryUsage().rss },
  ])
  registry.gauge(
    'process_start_time_seconds',
    'Start time of the process since the epoch in seconds.',
    () => [{ labels: {}, value: startedAt }],
  )
  registry.gauge('pga_build_info', 'Build of this replica (always 1).', () => [
    {
      labels: { version: deps.build.version, revision: deps.build.revision, runtime: deps.build.runtime },
      value: 1,
    },
  ])
  registry.gauge('pga_store_pool_size', 'Maximum connections in the store pool.', () => [
    { labels: { kind: deps.db.kind }, value: deps.db.poolSize },
  ])
  registry.gauge(
    'pga_dependency_up',
    '1 when the dependency answered its health check, else 0.',
    async () => {
      const { checks } = await health()
      return [
        {
          labels: { dependency: 'store', kind: checks.store.kind },
          value: checks.store.status === 'up' ? 1 : 0,
        },
        {
          labels: { dependency: 'state', kind: checks.state.kind },
          value: checks.state.status === 'up' ? 1 : 0,
        },
      ]
    },
  )
  registry.gauge(
    'pga_dependency_ping_seconds',
    'Round trip of the last health check (absent when down).',
    async () => {
      const { checks } = await health()
      return Object.entries(checks)
        .filter(([, check]) => check.latencyMs !== undefined)
        .map(([dependency, check]) => ({
          labels: { dependency, kind: check.kind },
          value: (check.latencyMs as number) / 1000,
        }))
    },
  )
  // The per-replica copy behind the session check (Redis standalone or Sentinel): absent where the
  // store has none, 0 while it is not armed (every request then reads Redis).
  registry.gauge(
    'pga_state_cache_armed',
    '1 while Redis keeps this replica’s copy of sessions current.',
    () => {
      const stats = deps.state.cacheStats?.()
      return stats ? [{ labels: {}, value: stats.armed ? 1 : 0 }] : []
    },
  )
  registry.counter(
    'pga_state_cache_reads_total',
    'Session reads answered from the copy (hit) or from Redis (miss).',
    () => {
      const stats = deps.state.cacheStats?.()
      return stats
        ? [
            { labels: { result: 'hit' }, value: stats.hits },
            { labels: { result: 'miss' }, value: stats.misses },
          ]
        : []
    },
  )
  return { registry, httpDurations, stop: () => lag.stop() }
}
