// The collector of one replica. Every tick it refreshes the list of enabled instances, keeps the
// leases of the instances it owns (one Redis lease per instance, so each is collected by exactly
// one replica), takes free ones up to its fair share of the fleet, and starts the workers whose
// groups are due, never more than `concurrency` at once. A replica that dies stops renewing; its
// leases expire and the others take its instances within one lease period.
import type { Logger } from '../platform/log.ts'
import type { Lease, StateStore } from '../platform/state/state-store.ts'
import type { CollectorMetrics } from './collector-metrics.ts'
import type { CollectedInstance, InstanceConnector, WorkerContext } from './instance-worker.ts'
import { InstanceWorker } from './instance-worker.ts'

export type ScheduledInstance = CollectedInstance & {
  /** Changes whenever the instance's settings change (its updated_at); the worker is rebuilt then. */
  version: string
}

export type SchedulerOptions = {
  state: StateStore
  replica: string
  leaseMs: number
  concurrency: number
  tickMs?: number
  refreshMs?: number
  log: Logger
  metrics: CollectorMetrics
  worker: Omit<WorkerContext, 'metrics' | 'log' | 'replica'>
  listInstances(): Promise<ScheduledInstance[]>
  connectorFor(instanceId: string): Promise<InstanceConnector>
}

type Owned = { worker: InstanceWorker; lease: Lease; version: string }

const replicasKey = 'collector:replicas'
const leaseName = (instanceId: string) => `collector:instance:${instanceId}`

export class CollectorScheduler {
  private readonly owned = new Map<string, Owned>()
  private instances: ScheduledInstance[] = []
  private refreshedAt = 0
  private heartbeatAt = 0
  private liveReplicas = 1
  /** Whether this replica takes instances yet (tests drive tick() without start(): at once). */
  private acquiring = true
  /** No instance is taken before this time: one heartbeat after this replica's first, so the
   * replicas started together count each other before any takes its share. */
  private settledAt = 0
  private readonly running = new Set<Promise<void>>()
  private timer: ReturnType<typeof setInterval> | undefined
  private ticking: Promise<void> | undefined
  private stopped = false

  constructor(private readonly options: SchedulerOptions) {}

  get ownedCount(): number {
    return this.owned.size
  }

  /** Heartbeats without taking instances yet (while partition upkeep runs before start()), so the
   * replicas starting together see each other: otherwise the first to list the fleet takes all of
   * it and hands half back a heartbeat later. */
  announce(): void {
    if (this.timer || this.stopped) return
    this.acquiring = false
    this.settledAt = Number.POSITIVE_INFINITY
    this.startTicking()
  }

  /** Takes and collects instances from now on (announcing first if that was not done). */
  start(): void {
    this.announce()
    this.acquiring = true
  }

  private startTicking(): void {
    const tick = () => {
      if (this.ticking || this.stopped) return
      this.ticking = this.tick()
        .catch((error) => this.options.log.error('collector tick failed', { error: String(error) }))
        .finally(() => {
          this.ticking = undefined
        })
    }
    this.timer = setInterval(tick, this.options.tickMs ?? 1000)
    this.timer.unref?.()
    tick()
  }

  /** One round of bookkeeping and dispatch; exposed for tests that drive time themselves. */
  async tick(now = Date.now()): Promise<void> {
    if (now - this.refreshedAt >= (this.options.refreshMs ?? 5000)) {
      this.instances = await this.options.listInstances()
      this.refreshedAt = now
    }
    if (now - this.heartbeatAt >= this.options.leaseMs / 3) {
      this.liveReplicas = await this.heartbeat(now)
      // The first heartbeat after announce(): settled one heartbeat later.
      if (this.settledAt === Number.POSITIVE_INFINITY) this.settledAt = now + this.options.leaseMs / 3
      this.heartbeatAt = now
      await this.renewLeases()
    }
    if (!this.acquiring || now < this.settledAt) return
    await this.acquireLeases(now)
    this.dispatch(now)
  }

  /** Records this replica as alive and counts the live ones, for the fair share. */
  private async heartbeat(now: number): Promise<number> {
    const { state, replica, leaseMs } = this.options
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = await state.get(replicasKey)
      const seen: Record<string, number> = current ? JSON.parse(current) : {}
      const live = Object.fromEntries(Object.entries(seen).filter(([, expires]) => expires > now))
      live[replica] = now + leaseMs
      if (await state.compareAndSet(replicasKey, current, JSON.stringify(live)))
        return Object.keys(live).length
    }
    return this.liveReplicas
  }

  private async renewLeases() {
    const wanted = new Map(this.instances.map((i) => [i.id, i]))
    const share = this.fairShare()
    let excess = this.owned.size - share
    for (const [id, owned] of this.owned) {
      const instance = wanted.get(id)
      if (!instance || instance.version !== owned.version || excess > 0) {
        // Deleted, disabled, changed (rebuilt on the next acquire) or more than our share: let go.
        excess--
        await this.release(id, owned, 'released')
        continue
      }
      if (!(await this.options.state.renewLease(owned.lease, this.options.leaseMs).catch(() => false)))
        await this.release(id, owned, 'lost')
    }
  }

  private fairShare(): number {
    return Math.ceil(this.instances.length / Math.max(1, this.liveReplicas))
  }

  private async acquireLeases(now: number) {
    const share = this.fairShare()
    for (const instance of this.instances) {
      if (this.owned.size >= share || this.stopped) return
      if (this.owned.has(instance.id)) continue
      const lease = await this.options.state
        .acquireLease(leaseName(instance.id), this.options.replica, this.options.leaseMs)
        .catch(() => null)
      if (!lease) continue
      try {
        const connector = await this.options.connectorFor(instance.id)
        const worker = new InstanceWorker(
          instance,
          connector,
          {
            ...this.options.worker,
            metrics: this.options.metrics,
            log: this.options.log,
            replica: this.options.replica,
          },
          now,
        )
        this.owned.set(instance.id, { worker, lease, version: instance.version })
        this.options.metrics.leaseChanges.inc({ change: 'acquired' })
        this.options.log.info('collecting instance', {
          instance: instance.name,
          replica: this.options.replica,
        })
      } catch (error) {
        await this.options.state.releaseLease(lease).catch(() => false)
        this.options.log.error('could not prepare instance', {
          instance: instance.name,
          error: String(error),
        })
      }
    }
  }

  private async release(id: string, owned: Owned, change: 'released' | 'lost') {
    this.owned.delete(id)
    this.options.metrics.leaseChanges.inc({ change })
    await owned.worker.close()
    if (change === 'released') await this.options.state.releaseLease(owned.lease).catch(() => false)
  }

  /** Starts due workers, most overdue first, while slots are free; a finishing run frees its
   * slot for the next one at once rather than at the next tick. */
  private dispatch(now: number) {
    if (this.stopped || this.running.size >= this.options.concurrency) return
    const due = [...this.owned.values()]
      .map((o) => o.worker)
      .filter((w) => w.isDue(now))
      .sort((a, b) => a.earliestDue() - b.earliestDue())
    for (const worker of due.slice(0, this.options.concurrency - this.running.size)) {
      const run = worker
        .collectDue(now)
        .catch((error) => this.options.log.error('collection failed', { error: String(error) }))
        .finally(() => {
          this.running.delete(run)
          this.dispatch(Date.now())
        })
      this.running.add(run)
    }
  }

  /** Stops scheduling, waits for running collections (bounded), closes connections, frees leases. */
  async stop(timeoutMs = 5000): Promise<void> {
    this.stopped = true
    if (this.timer) clearInterval(this.timer)
    await Promise.race([
      Promise.all([this.ticking, ...this.running]),
      new Promise((resolve) => setTimeout(resolve, timeoutMs).unref?.()),
    ])
    await Promise.all([...this.owned].map(([id, owned]) => this.release(id, owned, 'released')))
  }
}
