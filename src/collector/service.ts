// The collector as the service runs it: partition upkeep (on start, then hourly) and, when
// enabled, the scheduler of this replica. Instances are read and probed through the instances
// service; snapshots go to the store.
import type { Config } from '../config.ts'
import { openInstanceConnection } from '../instances/connection-test.ts'
import type { HostPolicy } from '../instances/host-policy.ts'
import * as instances from '../instances/service.ts'
import type { Keyring } from '../keys/keyring.ts'
import type { Database } from '../platform/db/database.ts'
import { settledWithin } from '../platform/deadline.ts'
import type { Logger } from '../platform/log.ts'
import type { MetricsRegistry } from '../platform/metrics/registry.ts'
import type { StateStore } from '../platform/state/state-store.ts'
import { allGroups, valueColumns } from './catalog/index.ts'
import { createCollectorMetrics } from './collector-metrics.ts'
import type { InstanceConnector } from './instance-worker.ts'
import { ensurePartitions, maintainPartitions, type PartitionedTable } from './partitions.ts'
import { CollectorScheduler } from './scheduler.ts'
import { forgetStatementTexts } from './snapshot-repo.ts'

export type CollectorDeps = {
  config: Config['collector']
  /** Checked on every connection to an instance: a policy that now refuses its host fails it. */
  hostPolicy: HostPolicy
  db: Database
  state: StateStore
  keyring: () => Keyring
  log: Logger
  registry: MetricsRegistry
  replica: string
}

/** Days kept per snapshot table (host groups the agent pushes included); sn_stat_snapshot keeps
 * as long as the longest row-storing group. */
export function retentionPlan(config: Config['collector']): PartitionedTable[] {
  const groups = allGroups.map((g) => ({
    table: g.table,
    retentionDays: config.retentionDays[g.name] ?? g.defaultRetentionDays,
    changesOnly: g.storage === 'changes',
    noStatistics: valueColumns(g),
  }))
  const longest = Math.max(...groups.filter((g) => !g.changesOnly).map((g) => g.retentionDays))
  return [
    { table: 'sn_stat_snapshot', retentionDays: longest },
    ...groups.map(({ table, retentionDays, noStatistics }) => ({ table, retentionDays, noStatistics })),
  ]
}

export class Collector {
  private readonly tables: PartitionedTable[]
  private readonly scheduler: CollectorScheduler
  private maintenance: ReturnType<typeof setInterval> | undefined
  private starting: Promise<void> | undefined
  private stopped = false
  private stopping: Promise<void> | undefined

  constructor(private readonly deps: CollectorDeps) {
    this.tables = retentionPlan(deps.config)
    const metrics = createCollectorMetrics(deps.registry, () => this.scheduler.ownedCount)
    const ctx = () => ({ db: deps.db.sql, keyring: deps.keyring() })
    this.scheduler = new CollectorScheduler({
      state: deps.state,
      replica: deps.replica,
      leaseMs: deps.config.leaseMs,
      concurrency: deps.config.concurrency,
      log: deps.log,
      metrics,
      worker: {
        store: deps.db.sql,
        statementTimeoutMs: deps.config.statementTimeoutMs,
        connectTimeoutMs: deps.config.connectTimeoutMs,
        keptDatabaseConnections: deps.config.keptDatabaseConnections,
        sessionSampleSeconds: deps.config.sessionSampleSeconds,
        backoffMaxMs: deps.config.backoffMaxMs,
        onMissingPartition: async () => {
          await ensurePartitions(deps.db.sql, this.tables, Date.now())
        },
        recordProbe: (id, capabilities) => instances.recordInstanceProbe(ctx(), id, capabilities),
      },
      listInstances: () => instances.listCollectedInstances(ctx()),
      connectorFor: async (id) => this.connector(await instances.connectionTargetFor(ctx(), id)),
    })
  }

  private connector({
    target,
    isSelf,
  }: Awaited<ReturnType<typeof instances.connectionTargetFor>>): InstanceConnector {
    if (isSelf) return { target, owned: false, open: () => this.deps.db.sql }
    const { connectTimeoutMs, statementTimeoutMs, lockTimeoutMs } = this.deps.config
    return {
      target,
      owned: true,
      open: (database, idleTimeoutSeconds = 0) =>
        openInstanceConnection(
          { ...target, database },
          {
            connectTimeoutMs,
            statementTimeoutMs,
            lockTimeoutMs,
            idleTimeoutSeconds,
            applicationName: 'pganalytics collector',
            hostPolicy: this.deps.hostPolicy,
          },
        ),
    }
  }

  get ownedCount(): number {
    return this.scheduler.ownedCount
  }

  /** Creates the coming days' partitions, drops expired ones and forgets statement texts not
   * seen within the statements retention; safe on every replica. */
  async maintainPartitions(
    now = Date.now(),
  ): Promise<{ created: number; dropped: string[]; forgottenTexts: number }> {
    const { created, dropped } = await maintainPartitions(this.deps.db.sql, this.tables, now)
    if (dropped.length > 0) this.deps.log.info('dropped expired snapshot partitions', { partitions: dropped })
    const statements = this.tables.find((t) => t.table === 'sn_stat_statements')
    const forgottenTexts = statements
      ? await forgetStatementTexts(this.deps.db.sql, statements.retentionDays)
      : 0
    return { created, dropped, forgottenTexts }
  }

  /** Partition upkeep now, then hourly, and the scheduler when enabled. A stop() that comes
   * while this is under way wins: nothing is left running once both have returned. */
  start(): Promise<void> {
    // A failed start (the store unreachable) can be tried again.
    this.starting ??= this.startOnce().catch((error: unknown) => {
      this.starting = undefined
      throw error
    })
    return this.starting
  }

  private async startOnce(): Promise<void> {
    if (this.stopped) return
    // Counted by the other replicas while the upkeep runs (it can take seconds on a new store).
    if (this.deps.config.enabled) this.scheduler.announce()
    await this.maintainPartitions()
    if (this.stopped) return
    this.maintenance = setInterval(() => {
      this.maintainPartitions().catch((error) =>
        this.deps.log.error('partition maintenance failed', { error: String(error) }),
      )
    }, 3_600_000)
    this.maintenance.unref?.()
    if (this.deps.config.enabled) this.scheduler.start()
  }

  /** Stops the scheduler, once (a second call returns the first one's promise). A start under
   * way is waited for up to timeoutMs; past that, whatever it still does (a query the pool's
   * close ends) starts nothing once it returns. */
  stop(timeoutMs = 5000): Promise<void> {
    this.stopped = true
    this.stopping ??= (async () => {
      if (this.starting) await settledWithin(this.starting, timeoutMs)
      if (this.maintenance) clearInterval(this.maintenance)
      await this.scheduler.stop(timeoutMs)
    })()
    return this.stopping
  }
}
