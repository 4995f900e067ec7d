// Two replicas of the compiled binary share one store and one Redis and collect six instances:
// each instance is collected by exactly one replica at a time, each replica takes its fair share,
// and when one replica is SIGKILLed (no goodbye: its leases only expire) the survivor collects
// all of its instances within one lease period plus a tick margin, every group at once.
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { metricGroups } from '../../src/collector/catalog/index.ts'
import { createTestDatabase } from '../harness/postgres.ts'
import { testMasterKey } from '../support/master-key.ts'
import { binaryInEmptyDir, type ServiceProcess, startService } from '../support/service-process.ts'
import { until } from '../support/until.ts'

const leaseMs = 3000
const token = 'failover-test-admin-token-0123456789'
const password = 'Fa1lover-pass-phrase'
const suffix = Math.random().toString(36).slice(2, 8)
const role = `pga_fo_${suffix}`
const databases = [1, 2, 3, 4, 5, 6].map((i) => `pga_fo_${suffix}_${i}`)
const groupNames = metricGroups.map((g) => g.name)
/** Activity every 5 s; every other group at its default. */
const intervals = { activity: 5 }

let replicas: ServiceProcess[] = []
let store: postgres.Sql
let admin: postgres.Sql
const instanceIds: string[] = []

beforeAll(async () => {
  const binary = await binaryInEmptyDir('failover')
  const storeUrl = await createTestDatabase(inject('pgUrl'))
  admin = postgres(inject('pgUrl'), { max: 1, onnotice: () => {} })
  await admin.unsafe(`create role ${role} login password '${password}' in role pga_password_auth, pg_monitor`)
  for (const database of databases) await admin.unsafe(`create database ${database}`)
  store = postgres(storeUrl, { max: 2, onnotice: () => {} })
  const env = {
    DATABASE_URL: storeUrl,
    PGA_MASTER_KEY: testMasterKey,
    REDIS_URL: inject('redisUrl'),
    PGA_REDIS_KEY_PREFIX: `fo${suffix}:`,
    PGA_ADMIN_TOKEN: token,
    PGA_COLLECTOR_LEASE: `${leaseMs}ms`,
  }
  replicas = await Promise.all([1, 2].map(() => startService({ command: binary, env, timeoutMs: 60_000 })))
}, 180_000)

afterAll(async () => {
  await Promise.all(replicas.map((r) => r.stop('SIGKILL')))
  await store?.end()
  await admin?.end()
})

/** The replica id a process collects under: `<host>:<pid>:<random>`. */
const replicaOf = (rows: { replica: string }[], service: ServiceProcess) =>
  rows.find((r) => r.replica.split(':')[1] === String(service.child.pid))?.replica

type SnapshotRow = {
  instance_id: string
  group_name: string
  taken_at: Date
  status: string
  replica: string
}
const snapshots = () =>
  store<SnapshotRow[]>`
    select instance_id::text, group_name, taken_at, status, replica from sn_stat_snapshot
     where instance_id = any(${instanceIds}::uuid[]) order by taken_at`

/** pga_collector_instances_owned of one replica, from its /metrics. */
async function ownedBy(service: ServiceProcess): Promise<number> {
  const text = await (await fetch(`${service.url}/metrics`)).text()
  return Number(/^pga_collector_instances_owned (\d+)$/m.exec(text)?.[1])
}

/** The replicas' recent collector log lines, for a wait that did not end. */
const collectorLogs = () =>
  JSON.stringify(
    replicas.map((r) => r.lines.filter((l) => /collect|lease|instance/.test(l)).slice(-15)),
    null,
    1,
  )

/** Per instance, the replicas that collected it and the time span of each one's snapshots. */
function spans(rows: SnapshotRow[]) {
  const byInstance = new Map<string, Map<string, { first: number; last: number }>>()
  for (const row of rows) {
    const replicasOf = byInstance.get(row.instance_id) ?? new Map()
    byInstance.set(row.instance_id, replicasOf)
    const time = row.taken_at.getTime()
    const span = replicasOf.get(row.replica)
    if (span) span.last = time
    else replicasOf.set(row.replica, { first: time, last: time })
  }
  return byInstance
}

describe('collector failover between two replicas', () => {
  let owners: Map<string, string>

  it('collects each instance on exactly one replica, each replica its fair share', async () => {
    const port = Number(new URL(inject('pgUrl')).port)
    for (const [i, database] of databases.entries()) {
      const res = await fetch(`${replicas[0]?.url}/api/v1/instances`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
        body: JSON.stringify({
          name: `fleet-${i + 1}`,
          host: '127.0.0.1',
          port,
          database,
          username: role,
          password,
          sslmode: 'disable',
          includeDatabases: [database],
          intervals,
        }),
      })
      const body = await res.json()
      expect(res.status, JSON.stringify(body)).toBe(201)
      instanceIds.push(body.id)
    }
    // Instances are listed every 5 s: all are collected within that plus a round.
    await until(
      'a first snapshot of every instance',
      async () => {
        const rows = await snapshots()
        return instanceIds.every((id) => rows.some((r) => r.instance_id === id))
      },
      { timeoutMs: 30_000, explain: collectorLogs },
    )

    // A window from now until every instance was collected again in it: each by one replica.
    const windowStart = new Date()
    const recent = await until(
      'every instance collected again',
      async () => {
        const rows = (await snapshots()).filter((r) => r.taken_at >= windowStart)
        return instanceIds.every((id) => rows.some((r) => r.instance_id === id)) && rows
      },
      { timeoutMs: 30_000, explain: collectorLogs },
    )
    owners = new Map()
    for (const [id, replicasOf] of spans(recent)) {
      expect([...replicasOf.keys()], `instance ${id} in the window`).toHaveLength(1)
      owners.set(id, [...replicasOf.keys()][0] as string)
    }
    expect([...owners.keys()].sort()).toEqual([...instanceIds].sort())
    const [first, second] = replicas as [ServiceProcess, ServiceProcess]
    const ids = [replicaOf(recent, first), replicaOf(recent, second)]
    expect(ids.every(Boolean), `both replicas collect: ${JSON.stringify([...owners.values()])}`).toBe(true)
    // Fair share: ceil(6 / 2) each, and /metrics of each replica agrees.
    const counts = ids.map((replica) => [...owners.values()].filter((o) => o === replica).length)
    expect(counts).toEqual([3, 3])
    expect(await Promise.all(replicas.map(ownedBy))).toEqual([3, 3])
    const failed = recent.filter((r) => r.status === 'failed')
    expect(failed.map((f) => `${f.instance_id} ${f.group_name}`)).toEqual([])
  }, 60_000)

  it('moves the instances of a SIGKILLed replica to the survivor within one lease period', async () => {
    const [victim, survivor] = replicas as [ServiceProcess, ServiceProcess]
    const rowsBefore = await snapshots()
    const victimId = replicaOf(rowsBefore, victim) as string
    const survivorId = replicaOf(rowsBefore, survivor) as string
    const orphaned = instanceIds.filter((id) => owners.get(id) === victimId)
    expect(orphaned).toHaveLength(3)

    const killedAt = Date.now()
    await victim.stop('SIGKILL')
    expect(victim.child.signalCode).toBe('SIGKILL')

    // Lease expiry (≤ 3 s after the last renewal) + the survivor's next heartbeat and tick. Polled
    // with a generous deadline; the budget is checked on the snapshots' own times.
    const budgetMs = leaseMs + 3000
    const takenOver = await until(
      'the survivor collecting every orphaned instance',
      async () => {
        const rows = (await snapshots()).filter(
          (r) => r.replica === survivorId && r.taken_at.getTime() > killedAt,
        )
        const firsts = orphaned.map((id) => rows.find((r) => r.instance_id === id)?.taken_at.getTime())
        return firsts.every((t) => t !== undefined) && (firsts as number[])
      },
      { timeoutMs: 30_000, explain: collectorLogs },
    )
    const takeoverMs = Math.max(...takenOver) - killedAt
    expect(takeoverMs, 'the last orphaned instance taken over, ms after the kill').toBeLessThanOrEqual(
      budgetMs,
    )

    // A replica that takes an instance collects every group of it at once.
    await until(
      'every group of the orphaned instances on the survivor',
      async () => {
        const rows = (await snapshots()).filter(
          (r) => r.replica === survivorId && r.taken_at.getTime() > killedAt,
        )
        return orphaned.every((id) =>
          groupNames.every((g) => rows.some((r) => r.instance_id === id && r.group_name === g)),
        )
      },
      { timeoutMs: 15_000, explain: collectorLogs },
    )
    expect(await ownedBy(survivor)).toBe(6)

    // Over the whole run, one replica at a time: per instance, the replicas' spans never overlap.
    const all = await snapshots()
    for (const [id, replicasOf] of spans(all)) {
      const ordered = [...replicasOf.values()].sort((a, b) => a.first - b.first)
      for (let i = 1; i < ordered.length; i++)
        expect(ordered[i]?.first, `instance ${id}`).toBeGreaterThan(ordered[i - 1]?.last as number)
      if (orphaned.includes(id)) expect(replicasOf.get(victimId)?.last).toBeLessThanOrEqual(killedAt)
    }
    expect(all.filter((r) => r.status === 'failed').map((r) => `${r.instance_id} ${r.group_name}`)).toEqual(
      [],
    )

    expect(await survivor.stop('SIGTERM')).toBe(0)
  }, 60_000)
})
