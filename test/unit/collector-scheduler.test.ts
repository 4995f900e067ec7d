// The collector's start between replicas (src/collector/scheduler.ts), driven tick by tick over the
// in-process state store: replicas announced together share the fleet from the first round, and
// none takes an instance before a third of the lease after its first heartbeat.
import { afterEach, describe, expect, it } from 'vitest'
import { createCollectorMetrics } from '../../src/collector/collector-metrics.ts'
import type { InstanceConnector } from '../../src/collector/instance-worker.ts'
import { CollectorScheduler, type ScheduledInstance } from '../../src/collector/scheduler.ts'
import type { Db } from '../../src/platform/db/database.ts'
import { createLogger } from '../../src/platform/log.ts'
import { MetricsRegistry } from '../../src/platform/metrics/registry.ts'
import { createMemoryStateStore } from '../../src/platform/state/memory.ts'
import type { StateStore } from '../../src/platform/state/state-store.ts'

const leaseMs = 3000
const fleet: ScheduledInstance[] = [1, 2, 3, 4].map((i) => ({
  id: `00000000-0000-4000-8000-00000000000${i}`,
  name: `fleet-${i}`,
  version: 'v1',
  intervals: {},
  includeDatabases: [],
  excludeDatabases: [],
  collectQueryText: false,
}))
// Never opened: with no collection slot (concurrency 0) no worker runs.
const connector: InstanceConnector = {
  target: { host: '127.0.0.1', port: 1, database: 'none', username: 'none', sslmode: 'disable' } as never,
  open: () => {
    throw new Error('no connection in this test')
  },
  owned: true,
}

const started: CollectorScheduler[] = []
afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.stop(1000)))
})

function replica(state: StateStore, name: string) {
  const scheduler = new CollectorScheduler({
    state,
    replica: name,
    leaseMs,
    concurrency: 0,
    // Only the first tick comes from the timer; the test gives the others, with their time.
    tickMs: 3_600_000,
    log: createLogger({ level: 'error', write: () => {} }),
    metrics: createCollectorMetrics(new MetricsRegistry(), () => 0),
    worker: {
      store: {} as Db,
      statementTimeoutMs: 1000,
      connectTimeoutMs: 1000,
      backoffMaxMs: 1000,
      keptDatabaseConnections: 0,
      onMissingPartition: async () => {},
      recordProbe: async () => {},
    },
    listInstances: async () => fleet,
    connectorFor: async () => connector,
  })
  started.push(scheduler)
  return scheduler
}

/** Waits for the tick the timer started (announce's first heartbeat). */
const firstTick = (scheduler: CollectorScheduler) =>
  (scheduler as unknown as { ticking: Promise<void> | undefined }).ticking

describe('collector start between replicas', () => {
  it('takes nothing before a third of the lease after its first heartbeat, then its fair share', async () => {
    const state = createMemoryStateStore()
    const a = replica(state, 'a')
    const t0 = Date.now()
    a.announce()
    await firstTick(a)
    a.start()
    // Alone so far, and not settled: a replica that took its share now would take all four.
    await a.tick(t0 + 100)
    expect(a.ownedCount).toBe(0)

    const b = replica(state, 'b')
    b.announce()
    await firstTick(b)
    b.start()

    const settled = t0 + leaseMs / 3 + 50
    await a.tick(settled)
    expect(a.ownedCount).toBe(2)
    await b.tick(Date.now() + leaseMs / 3 + 50)
    expect(b.ownedCount).toBe(2)
  })

  it('takes instances at once when driven without start() (tests and tools that tick by hand)', async () => {
    const a = replica(createMemoryStateStore(), 'solo')
    await a.tick()
    expect(a.ownedCount).toBe(4)
  })
})
