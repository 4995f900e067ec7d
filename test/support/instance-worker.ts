// A real instance worker over one database of a test cluster, as the collector builds it (its own
// connections through openInstanceConnection, no kept per-database connections), storing into a
// migrated test store. Tests drive it with collectDue() and close it.
import type postgres from 'postgres'
import { createCollectorMetrics } from '../../src/collector/collector-metrics.ts'
import { InstanceWorker } from '../../src/collector/instance-worker.ts'
import { openInstanceConnection } from '../../src/instances/connection-test.ts'
import { HostPolicy } from '../../src/instances/host-policy.ts'
import { createLogger, type Logger } from '../../src/platform/log.ts'
import { MetricsRegistry } from '../../src/platform/metrics/registry.ts'

export function testInstanceWorker(options: {
  store: postgres.Sql
  /** postgres://user@host:port/database of the monitored database (no password, sslmode off). */
  monitoredUrl: string
  name: string
  intervals: Record<string, number>
  id?: string
  statementTimeoutMs?: number
  sessionSampleSeconds?: number
  log?: Logger
  /** The database a connection really opens, given the one asked for and how many were opened. */
  databaseOfOpen?: (database: string, opened: number) => string
}): InstanceWorker {
  const url = new URL(options.monitoredUrl)
  const target = {
    host: url.hostname,
    port: Number(url.port),
    database: url.pathname.slice(1),
    username: url.username,
    sslmode: 'disable' as const,
  }
  const statementTimeoutMs = options.statementTimeoutMs ?? 30_000
  const databaseOfOpen = options.databaseOfOpen ?? ((database) => database)
  let opened = 0
  return new InstanceWorker(
    {
      id: options.id ?? crypto.randomUUID(),
      name: options.name,
      intervals: options.intervals,
      includeDatabases: [target.database],
      excludeDatabases: [],
      collectQueryText: false,
    },
    {
      target,
      owned: true,
      open: (database) =>
        openInstanceConnection(
          { ...target, database: databaseOfOpen(database, ++opened) },
          {
            connectTimeoutMs: 10_000,
            statementTimeoutMs,
            lockTimeoutMs: 1000,
            idleTimeoutSeconds: 0,
            applicationName: `pganalytics ${options.name} test`,
            hostPolicy: new HostPolicy({ allow: [], deny: [] }),
          },
        ),
    },
    {
      store: options.store,
      replica: 'test',
      statementTimeoutMs,
      connectTimeoutMs: 10_000,
      backoffMaxMs: 1000,
      keptDatabaseConnections: 0,
      ...(options.sessionSampleSeconds === undefined
        ? {}
        : { sessionSampleSeconds: options.sessionSampleSeconds }),
      metrics: createCollectorMetrics(new MetricsRegistry(), () => 1),
      log: options.log ?? createLogger({ level: 'error', write: () => {} }),
      onMissingPartition: async () => {},
      recordProbe: async () => {},
    },
    Date.now(),
  )
}
