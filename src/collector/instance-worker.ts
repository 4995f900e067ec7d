// One monitored instance, as its owning replica collects it: a reused connection (plus kept ones
// to other databases for per-database groups), the capability probe on every (re)connect,
// the due time of each group, and exponential back-off while the instance is unreachable.
// A failing query is recorded and the next group runs; a lost connection stops this round.
import type postgres from 'postgres'
import { type ConnectionTarget, destroyInstanceConnection } from '../instances/connection-test.ts'
import { type Capabilities, probeCapabilities } from '../instances/probe.ts'
import type { Db } from '../platform/db/database.ts'
import { withDeadline } from '../platform/deadline.ts'
import type { Logger } from '../platform/log.ts'
import {
  type MetricGroup,
  metricGroups,
  type PlannedQuery,
  planGroup,
  planQueryTexts,
  queryParams,
} from './catalog/index.ts'
import type { CollectorMetrics } from './collector-metrics.ts'
import { DatabaseConnections } from './database-connections.ts'
import { type CollectionFailure, classifyFailure } from './failures.ts'
import { SessionSampler } from './session-sampler.ts'
import {
  type PendingSnapshot,
  saveQueryTexts,
  writeFailedSnapshot,
  writeSnapshot,
  writeSnapshots,
} from './snapshot-repo.ts'
import { type Fetched, fetchRows, globToRegExp, phaseOf } from './worker-helpers.ts'

/** A fetched snapshot waiting for its batch's write, with the connection it came from (for
 * the query texts of new statements). */
type BatchedSnapshot = PendingSnapshot & { sql: postgres.Sql }

export type CollectedInstance = {
  id: string
  name: string
  /** Seconds between collections per group (0: off), catalog defaults already applied. */
  intervals: Record<string, number>
  includeDatabases: string[]
  excludeDatabases: string[]
  collectQueryText: boolean
}

/** How the worker reaches the instance: its own connections, or the store's pool (self-monitoring). */
export type InstanceConnector = {
  target: ConnectionTarget
  /** idleTimeoutSeconds: close the socket after this long unused (0: never). */
  open(database: string, idleTimeoutSeconds?: number): postgres.Sql
  /** False when the connection is borrowed and must not be closed, nor other databases opened. */
  owned: boolean
}

export type WorkerContext = {
  store: Db
  replica: string
  statementTimeoutMs: number
  connectTimeoutMs: number
  backoffMaxMs: number
  /** Per-database connections kept between rounds, per instance (0: one per round). */
  keptDatabaseConnections: number
  /** Seconds between session samples (0: off; optional for callers predating sampling). */
  sessionSampleSeconds?: number
  metrics: CollectorMetrics
  log: Logger
  /** Ensures partitions exist after a write found none for its day, then the write is retried. */
  onMissingPartition(): Promise<void>
  recordProbe(instanceId: string, capabilities: Capabilities): Promise<void>
}

export class InstanceWorker {
  private main: postgres.Sql | undefined
  private readonly otherDatabases: DatabaseConnections
  private capabilities: Capabilities | undefined
  private readonly nextDue = new Map<string, number>()
  /** Per group ranked by change: the counters of its last run, as the server produced them. */
  private readonly previousCounters = new Map<string, string>()
  private failures = 0
  private blockedUntil = 0
  private closed = false
  private firstRound = true
  /** Session sampler and its connection, while a sampled group is planned. */
  private sampler: { sampler: SessionSampler; sql: postgres.Sql; startedAt: number } | undefined
  /** The first failed sample since the last snapshot, classified (a peer's text is not kept). */
  private sampleFailure: CollectionFailure | undefined
  running = false

  constructor(
    readonly instance: CollectedInstance,
    private readonly connector: InstanceConnector,
    private readonly ctx: WorkerContext,
    now: number,
  ) {
    // Every group once right away (a new instance, or this replica just took it over).
    for (const group of metricGroups) if (this.intervalOf(group) > 0) this.nextDue.set(group.name, now)
    // A kept connection outlives the gap between two rounds of the slowest per-database group.
    const perDatabase = metricGroups.filter((g) => g.scope === 'database').map((g) => this.intervalOf(g))
    this.otherDatabases = new DatabaseConnections(
      (database, idleSeconds) => connector.open(database, idleSeconds),
      ctx.keptDatabaseConnections,
      2 * Math.max(0, ...perDatabase),
    )
  }

  /** A group with a sampled variant is off unless session sampling is on or the instance
   * names an interval for it (pg_wait_sampling needs no sampler). */
  private intervalOf(group: MetricGroup): number {
    const set = this.instance.intervals[group.name]
    if (set !== undefined) return set
    if (group.variants.some((v) => v.sampled) && !this.sampleSeconds) return 0
    return group.defaultIntervalSeconds
  }

  private get sampleSeconds(): number {
    return this.ctx.sessionSampleSeconds ?? 0
  }

  isDue(now: number): boolean {
    if (this.running || this.closed || now < this.blockedUntil) return false
    for (const due of this.nextDue.values()) if (due <= now) return true
    return false
  }

  /** Collects every group that is due, one after the other on the instance's connection. */
  /** The earliest due time of any group (the scheduler starts the most overdue worker first). */
  earliestDue(): number {
    return Math.min(...this.nextDue.values())
  }

  /** Collects every group that is due, one after the other on the instance's connection; the
   * per-database groups share one connection per database. */
  async collectDue(now: number): Promise<void> {
    this.running = true
    try {
      const due = metricGroups.filter((g) => (this.nextDue.get(g.name) ?? Number.POSITIVE_INFINITY) <= now)
      for (const group of due) this.scheduleNext(group, now)
      this.firstRound = false
      let capabilities: Capabilities
      try {
        capabilities = await this.connect()
      } catch (error) {
        // A worker closed meanwhile (lease lost, instance changed) records nothing.
        if (!this.closed)
          await this.connectionLost(due, classifyFailure(error, this.connector.target, { connecting: true }))
        return
      }
      const plans = due.map((group) => ({ group, plan: planGroup(group, capabilities) }))
      const runnable: { group: MetricGroup; plan: PlannedQuery }[] = []
      for (const { group, plan } of plans) {
        const reason =
          'unavailable' in plan
            ? plan.unavailable
            : plan.sampled && !this.sampleSeconds
              ? 'session sampling is off (PGA_COLLECTOR_SESSION_SAMPLE_SECONDS=0) and pg_wait_sampling is not loaded and installed'
              : null
        if (reason !== null) {
          const unavailable = { code: 'unavailable', message: reason, connectionLost: false }
          await this.recordFailure(group, null, unavailable, 0, null)
        } else runnable.push({ group, plan: plan as PlannedQuery })
      }
      const main = this.main as postgres.Sql
      const instanceWide = runnable.filter((r) => r.group.scope === 'instance')
      const batch: BatchedSnapshot[] = []
      for (const [i, { group, plan }] of instanceWide.entries()) {
        if (this.closed) return
        const failure = await this.collectInto(group, plan, main, null, batch)
        if (failure?.connectionLost) {
          await this.storeBatch(batch)
          const notRun = [
            ...instanceWide.slice(i + 1),
            ...runnable.filter((r) => r.group.scope === 'database'),
          ]
          await this.connectionLost(
            notRun.map((r) => r.group),
            failure,
          )
          return
        }
      }
      await this.storeBatch(batch)
      const perDatabase = runnable.filter((r) => r.group.scope === 'database')
      if (perDatabase.length > 0 && !this.closed) {
        const failure = await this.collectDatabases(perDatabase, main)
        if (failure) {
          await this.connectionLost([], failure)
          return
        }
      }
      this.failures = 0
    } finally {
      this.running = false
    }
  }

  /** Keeps the cadence; after a long stall starts again from now instead of catching up. After
   * the first round (all groups at once) each group moves to its own phase in the interval, so
   * instances taken together do not stay due together. */
  private scheduleNext(group: MetricGroup, now: number) {
    const dueAt = this.nextDue.get(group.name) as number
    this.ctx.metrics.lag.observe((now - dueAt) / 1000, { group: group.name })
    const interval = this.intervalOf(group) * 1000
    const next = this.firstRound
      ? now + interval * (0.5 + phaseOf(`${this.instance.id}:${group.name}`) / 2)
      : dueAt + interval > now
        ? dueAt + interval
        : now + interval
    this.nextDue.set(group.name, next)
  }

  /** Runs the per-database groups in each database on one connection per database. Returns a
   * failure only when the instance's own database connection was lost. */
  private async collectDatabases(
    runs: { group: MetricGroup; plan: PlannedQuery }[],
    main: postgres.Sql,
  ): Promise<CollectionFailure | undefined> {
    const databases = await this.databases(main)
    await this.otherDatabases.retain(databases)
    for (const datname of databases) {
      const own = datname === this.connector.target.database
      const { sql, kept } = own ? { sql: main, kept: true } : this.otherDatabases.get(datname)
      let lost = false
      const batch: BatchedSnapshot[] = []
      try {
        for (const { group, plan } of runs) {
          if (this.closed) return undefined
          const failure = await this.collectInto(group, plan, sql, datname, batch)
          // Losing another database's connection does not mean the instance is gone.
          if (failure?.connectionLost) {
            if (own) return failure
            lost = true
            break
          }
        }
      } finally {
        // Before the connection closes: a new statement's text is read over it.
        await this.storeBatch(batch)
        if (!kept) await sql.end({ timeout: 1 }).catch(() => {})
        else if (lost) await this.otherDatabases.drop(datname)
      }
    }
    return undefined
  }

  private async connect(): Promise<Capabilities> {
    if (this.main && this.capabilities) return this.capabilities
    this.main = this.connector.open(this.connector.target.database)
    const main = this.main
    // TCP, TLS, start-up and the probe under the one connect deadline, as the API's test has it.
    this.capabilities = await withDeadline(probeCapabilities(main), this.ctx.connectTimeoutMs, (error) =>
      this.tearDown(main, error),
    )
    await this.ctx
      .recordProbe(this.instance.id, this.capabilities)
      .catch((error) =>
        this.ctx.log.warn('could not record probe', { instance: this.instance.name, error: String(error) }),
      )
    return this.capabilities
  }

  /** Records the failure for the groups that did not run, drops the connection, backs off. */
  private async connectionLost(groups: MetricGroup[], failure: CollectionFailure) {
    this.failures++
    const backoff = Math.min(this.ctx.backoffMaxMs, 1000 * 2 ** Math.min(this.failures - 1, 20))
    this.blockedUntil = Date.now() + backoff * (0.8 + Math.random() * 0.4)
    this.ctx.log.warn('instance unreachable', {
      instance: this.instance.name,
      reason: failure.code,
      detail: failure.message,
      retryInMs: Math.round(this.blockedUntil - Date.now()),
    })
    await this.dropConnection()
    for (const group of groups) await this.recordFailure(group, null, failure, 0, null)
  }

  private async dropConnection() {
    await this.stopSampler()
    const main = this.main
    this.main = undefined
    this.capabilities = undefined
    if (main && this.connector.owned) await main.end({ timeout: 0 }).catch(() => {})
    await this.otherDatabases.closeAll()
  }

  /** Runs a group's query. A lock taken between the catalog's lock check and the size functions
   * (the race lock_timeout ends) is retried once: by then pg_locks shows it and it is skipped. */
  private async fetch(
    group: MetricGroup,
    plan: PlannedQuery,
    sql: postgres.Sql,
    memo: string,
  ): Promise<Fetched> {
    if (plan.sampled) return this.drainSamples(group, plan)
    const params = queryParams(group, plan, this.previousCounters.get(memo))
    try {
      return await this.bounded(sql, fetchRows(sql, plan, params, group.columns))
    } catch (error) {
      if ((error as { code?: string }).code !== '55P03' || this.closed) throw error
      return await this.bounded(sql, fetchRows(sql, plan, params, group.columns))
    }
  }

  /** The sums of the session sampler since the last snapshot; starts it on first use. A round
   * without a sample since the previous one (the sampler failing) fails with its last error, and
   * the sampler starts again on a new connection next round. */
  private async drainSamples(group: MetricGroup, plan: PlannedQuery): Promise<Fetched> {
    const takenAt = new Date().toISOString()
    if (!this.sampler) {
      const owned = this.connector.owned
      const sql = owned ? this.connector.open(this.connector.target.database) : (this.main as postgres.Sql)
      const sampler = new SessionSampler(sql, plan.sql, {
        periodMs: this.sampleSeconds * 1000,
        rowLimit: group.rowLimit ?? 500,
        maxSeries: 4 * (group.rowLimit ?? 500),
        deadlineMs: this.ctx.statementTimeoutMs + 1000,
        onTimeout: (error) => this.tearDown(sql, error),
        onError: (error) => {
          // Logged once until a sample succeeds or the sampler stops, not once a second.
          if (this.sampleFailure) return
          this.sampleFailure = classifyFailure(error, this.connector.target)
          this.ctx.log.warn('session sample failed', {
            instance: this.instance.name,
            reason: this.sampleFailure.code,
            detail: this.sampleFailure.message,
          })
        },
      })
      this.sampler = { sampler, sql, startedAt: Date.now() }
      sampler.start()
      // Nothing sampled yet: this round stores an empty snapshot.
      return { takenAt, rows: '[]', format: 'json' }
    }
    const { sampleCount, rows, droppedObservations } = this.sampler.sampler.drain()
    if (droppedObservations > 0)
      this.ctx.log.warn('session samples over the series cap', {
        instance: this.instance.name,
        droppedObservations,
      })
    // The failure stays until a sample succeeds or the sampler stops: a round that comes
    // before the sampler's grace period is over must not swallow the reason.
    const failure = this.sampleFailure
    if (sampleCount > 0) this.sampleFailure = undefined
    if (sampleCount === 0 && Date.now() - this.sampler.startedAt > 2 * this.sampleSeconds * 1000) {
      await this.stopSampler()
      const why = failure ? `${failure.code}: ${failure.message}` : 'none finished'
      throw new Error(`no session sample succeeded since the last snapshot (${why})`)
    }
    return { takenAt, rows, format: 'json' }
  }

  /** Stops the sampler and forgets its failure: the next sampler's report is its own. */
  private async stopSampler() {
    const running = this.sampler
    this.sampler = undefined
    this.sampleFailure = undefined
    if (!running) return
    await running.sampler.stop()
    if (this.connector.owned) await running.sql.end({ timeout: 0 }).catch(() => {})
  }

  /** Runs a group's query. A failure is recorded at once; the rows join `batch`, which
   * storeBatch writes with the other groups fetched on the same connection. */
  private async collectInto(
    group: MetricGroup,
    plan: PlannedQuery,
    sql: postgres.Sql,
    datname: string | null,
    batch: BatchedSnapshot[],
  ): Promise<CollectionFailure | undefined> {
    const started = performance.now()
    const memo = `${group.name}:${datname ?? ''}`
    let fetched: Fetched
    try {
      fetched = await this.fetch(group, plan, sql, memo)
    } catch (error) {
      if (this.closed) return undefined
      const failure = classifyFailure(error, {
        ...this.connector.target,
        database: datname ?? this.connector.target.database,
      })
      await this.recordFailure(group, datname, failure, performance.now() - started, plan.source)
      return failure
    }
    if (fetched.counters !== undefined) this.previousCounters.set(memo, fetched.counters)
    const header = {
      instanceId: this.instance.id,
      group: group.name,
      datname,
      takenAt: fetched.takenAt,
      durationMs: performance.now() - started,
      variant: plan.source,
      replica: this.ctx.replica,
    }
    batch.push({ group, header, rows: fetched.rows, format: fetched.format, sql })
    return undefined
  }

  /** Writes the fetched snapshots in one store transaction: one commit instead of one per
   * snapshot (issue 17). Should that fail, each is written alone, so one bad snapshot does not
   * cost the others. */
  private async storeBatch(batch: BatchedSnapshot[]): Promise<void> {
    const items = batch.splice(0)
    // Another worker (or replica) owns the instance now: its snapshots, not ours.
    if (items.length === 0 || this.closed) return
    const batchStarted = performance.now()
    const together = await this.write(() => writeSnapshots(this.ctx.store, items)).catch(() => undefined)
    const batchMs = performance.now() - batchStarted
    for (const [i, item] of items.entries()) {
      const { group } = item
      try {
        const writeStarted = performance.now()
        const written =
          together?.[i] ??
          (await this.write(() => writeSnapshot(this.ctx.store, group, item.header, item.rows, item.format)))
        // A snapshot's time: its query, then the write of its batch (or its own).
        const writeMs = together ? batchMs : performance.now() - writeStarted
        if (written.newQueryIds.length > 0 && this.instance.collectQueryText && this.capabilities) {
          await this.saveTexts(group, written.newQueryIds, item.sql)
        }
        this.ctx.metrics.snapshots.inc({ group: group.name, status: 'ok' })
        this.ctx.metrics.duration.observe((item.header.durationMs + writeMs) / 1000, { group: group.name })
      } catch (error) {
        // The store, not the instance, failed: nothing to back off from here.
        this.ctx.metrics.failures.inc({ group: group.name, reason: 'store' })
        this.ctx.log.error('could not store snapshot', {
          instance: this.instance.name,
          group: group.name,
          error: String(error),
        })
      }
    }
  }

  private async saveTexts(group: MetricGroup, queryIds: string[], sql: postgres.Sql) {
    const textSql = planQueryTexts(group, this.capabilities as Capabilities)
    if (!textSql) return
    try {
      const texts = await this.bounded(
        sql,
        sql.unsafe<{ queryid: string; query: string }[]>(textSql, [queryIds], { prepare: true }),
      )
      await saveQueryTexts(this.ctx.store, this.instance.id, texts)
    } catch (error) {
      this.ctx.log.warn('could not store query texts', { instance: this.instance.name, error: String(error) })
    }
  }

  private async recordFailure(
    group: MetricGroup,
    datname: string | null,
    failure: CollectionFailure,
    durationMs: number,
    variant: string | null,
  ) {
    this.ctx.metrics.failures.inc({ group: group.name, reason: failure.code })
    this.ctx.metrics.snapshots.inc({
      group: group.name,
      status: failure.code === 'unavailable' ? 'unavailable' : 'failed',
    })
    await this.write(() =>
      writeFailedSnapshot(this.ctx.store, {
        instanceId: this.instance.id,
        group: group.name,
        datname,
        takenAt: new Date().toISOString(),
        durationMs,
        variant,
        replica: this.ctx.replica,
        status: failure.code === 'unavailable' ? 'unavailable' : 'failed',
        errorCode: failure.code,
        error: failure.message,
      }),
    ).catch((error) =>
      this.ctx.log.error('could not store failed snapshot', {
        instance: this.instance.name,
        error: String(error),
      }),
    )
  }

  /** A write into a day without a partition (a clock far ahead, a long-stopped maintenance) creates it and retries once. */
  private async write<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (error) {
      if ((error as { code?: string }).code !== '23514') throw error
      await this.ctx.onMissingPartition()
      return fn()
    }
  }

  /** The databases per-database groups visit: connectable, not templates, matching the patterns. */
  private async databases(main: postgres.Sql): Promise<string[]> {
    if (!this.connector.owned) return [this.connector.target.database]
    const rows = await this.bounded(
      main,
      main<{ datname: string }[]>`
        select datname::text from pg_database
         where not datistemplate and datallowconn and has_database_privilege(datname, 'CONNECT')
         order by datname`,
    )
    const include = this.instance.includeDatabases.map(globToRegExp)
    const exclude = this.instance.excludeDatabases.map(globToRegExp)
    return rows
      .map((r) => r.datname)
      .filter((name) => include.some((p) => p.test(name)) && !exclude.some((p) => p.test(name)))
  }

  /** Client-side limit: statement_timeout plus the time a connect may take, then the socket is torn down. */
  private bounded<T>(sql: postgres.Sql, work: Promise<T>): Promise<T> {
    const ms = this.ctx.statementTimeoutMs + this.ctx.connectTimeoutMs + 1000
    return withDeadline(work, ms, (error) => this.tearDown(sql, error))
  }

  /** Destroys the sockets of a connection of ours at once (a borrowed pool is left alone). */
  private tearDown(sql: postgres.Sql, error: Error) {
    if (this.connector.owned) destroyInstanceConnection(sql, error)
  }

  async close(): Promise<void> {
    this.closed = true
    await this.dropConnection()
  }
}
