// One dead instance never delays the others. A TCP server that accepts connections and never
// answers stands in for a stopped VM / half-open connection; next to it, healthy instances on the
// test cluster. The healthy ones collect while the silent one still hangs in its first connect,
// and keep collecting; the scheduler's tick finishes while the silent one hangs; its failures are
// recorded as connection_timeout snapshots, and its attempts are spaced by an exponential
// back-off. Everything is judged by the order of events (connections opened and closed, snapshot
// times, the back-off the worker scheduled), never by how long something took, so a loaded
// machine only makes the test slower.
import { createServer, type Server, type Socket } from 'node:net'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { metricGroups } from '../../src/collector/catalog/index.ts'
import { startTestApp, type TestApp } from '../support/app.ts'
import { pause, until } from '../support/until.ts'

const token = 'isolation-test-admin-token-0123456789'
const password = 'Is0lation-pass-phrase'
const suffix = Math.random().toString(36).slice(2, 8)
const role = `pga_iso_${suffix}`
const healthyDatabases = [1, 2, 3].map((i) => `pga_iso_${suffix}_${i}`)
const groupNames = metricGroups.map((g) => g.name)
/** Activity every 5 s; every other group at its default. */
const intervals = { activity: 5 }

/** One connection the silent server accepted: one collection attempt of the silent instance. */
type Attempt = { openedAt: number; closedAt?: number }
const attempts: Attempt[] = []
const sockets = new Set<Socket>()
/** The most connections the silent server held at once. */
let mostOpen = 0
/** Connect timeout of the collector: how long each silent attempt hangs. */
const connectTimeoutMs = 3000
let silent: Server
let silentPort: number
let t: TestApp
let admin: postgres.Sql

beforeAll(async () => {
  silent = createServer((socket) => {
    const attempt: Attempt = { openedAt: Date.now() }
    attempts.push(attempt)
    sockets.add(socket)
    mostOpen = Math.max(mostOpen, sockets.size)
    // Read and drop what the client sends (its startup packet), so its hang-up is seen as 'close'.
    socket.resume()
    socket.on('error', () => {})
    socket.on('close', () => {
      attempt.closedAt = Date.now()
      sockets.delete(socket)
    })
  })
  silentPort = await new Promise<number>((resolve, reject) => {
    silent.once('error', reject)
    silent.listen(0, '127.0.0.1', () => {
      const address = silent.address()
      resolve(typeof address === 'object' && address ? address.port : 0)
    })
  })
  t = await startTestApp({
    PGA_ADMIN_TOKEN: token,
    PGA_COLLECTOR_ENABLED: 'false',
    PGA_COLLECTOR_CONNECT_TIMEOUT: `${connectTimeoutMs}ms`,
    PGA_COLLECTOR_STATEMENT_TIMEOUT: '2s',
    PGA_COLLECTOR_CONCURRENCY: '4',
  })
  admin = postgres(inject('pgUrl'), { max: 1, onnotice: () => {} })
  await admin.unsafe(`create role ${role} login password '${password}' in role pga_password_auth, pg_monitor`)
  for (const database of healthyDatabases) await admin.unsafe(`create database ${database}`)
  await t.deps.collector.maintainPartitions()
}, 120_000)

afterAll(async () => {
  await driver?.stop()
  for (const socket of sockets) socket.destroy()
  await t?.close()
  await new Promise((resolve) => (silent ? silent.close(resolve) : resolve(undefined)))
  await admin?.end()
})

const call = async (method: string, path: string, body?: unknown) => {
  const res = await t.app.request(path, {
    method,
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  return { status: res.status, body: await res.json() }
}

async function addInstance(path: string, body: Record<string, unknown>): Promise<string> {
  const res = await call('POST', path, {
    host: '127.0.0.1',
    username: role,
    password,
    sslmode: 'disable',
    ...body,
  })
  expect(res.status, JSON.stringify(res.body)).toBe(201)
  return res.body.id as string
}

type Worker = { running: boolean; nextDue: Map<string, number>; blockedUntil: number }
type Scheduler = { tick(now?: number): Promise<void>; owned: Map<string, { worker: Worker }> }
const scheduler = () => (t.deps.collector as unknown as { scheduler: Scheduler }).scheduler

/** A back-off the silent instance's worker scheduled: when, and until when it waits. */
type Backoff = { setAt: number; until: number }
const backoffs: Backoff[] = []

/** Records every back-off the worker schedules, as it assigns it (the worker's own field). */
function recordBackoffs(worker: Worker) {
  let value = worker.blockedUntil
  Object.defineProperty(worker, 'blockedUntil', {
    configurable: true,
    get: () => value,
    set(next: number) {
      value = next
      backoffs.push({ setAt: Date.now(), until: next })
    },
  })
}

/** Ticks the scheduler every 100 ms, as start() would (finer), recording when each tick ended.
 * Keeps every group of `alwaysDue` due, so only the back-off decides when it is tried again
 * (intervals are at least 5 s and would otherwise hide the first steps of the back-off). */
function driveScheduler(alwaysDue: string) {
  let stopped = false
  const tickEnds: number[] = []
  let watched: Worker | undefined
  const done = (async () => {
    while (!stopped) {
      const worker = scheduler().owned.get(alwaysDue)?.worker
      if (worker && worker !== watched) {
        watched = worker
        recordBackoffs(worker)
      }
      for (const group of worker?.nextDue.keys() ?? []) worker?.nextDue.set(group, 0)
      await scheduler().tick()
      tickEnds.push(Date.now())
      await pause(100)
    }
  })()
  return {
    tickEnds,
    async stop() {
      stopped = true
      await done
    },
  }
}
let driver: ReturnType<typeof driveScheduler> | undefined

type SnapshotRow = {
  instance_id: string
  group_name: string
  taken_at: Date
  status: string
  error_code: string | null
  error: string | null
}
const snapshots = (ids: string[]) =>
  t.deps.db.sql<SnapshotRow[]>`
    select instance_id::text, group_name, taken_at, status, error_code, error from sn_stat_snapshot
     where instance_id = any(${ids}::uuid[]) order by taken_at`

/** Polls `check` until it returns a value, or fails with `explain()` and the last log lines. */
const waitFor = <T>(what: string, check: () => Promise<T | undefined>, explain: () => Promise<string>) =>
  until(what, check, {
    timeoutMs: 60_000,
    intervalMs: 100,
    explain: async () => `${await explain()}; log: ${t.logs.lines.slice(-20).join('\n')}`,
  })

describe('collector isolation from a dead instance', () => {
  let silentId: string
  let healthyIds: string[]

  it('collects the healthy instances while the silent one hangs in its first connect', async () => {
    // All four fit PGA_COLLECTOR_CONCURRENCY (4): the first tick dispatches each of them, the silent
    // one included, whatever their order.
    silentId = await addInstance('/api/v1/instances?test=false', { name: 'silent', port: silentPort })
    const clusterPort = Number(new URL(inject('pgUrl')).port)
    healthyIds = []
    for (const [i, database] of healthyDatabases.entries()) {
      healthyIds.push(
        await addInstance('/api/v1/instances', {
          name: `healthy-${i + 1}`,
          port: clusterPort,
          database,
          includeDatabases: [database],
          intervals,
        }),
      )
    }
    driver = driveScheduler(silentId)

    await waitFor(
      'every group of every healthy instance',
      async () => {
        const rows = await snapshots(healthyIds)
        const complete = healthyIds.every((id) =>
          groupNames.every((g) => rows.some((r) => r.instance_id === id && r.group_name === g)),
        )
        return complete || undefined
      },
      async () => `healthy instances incomplete: ${JSON.stringify(await snapshots(healthyIds))}`,
    )
    const rows = await snapshots(healthyIds)
    // Groups this server version lacks are recorded 'unavailable'; nothing failed.
    const failed = rows.filter((r) => r.status === 'failed')
    expect(failed.map((f) => `${f.group_name}: ${f.error}`)).toEqual([])
    // Each healthy instance stored snapshots while the silent instance's first connection was
    // open and unanswered: their collection did not wait for it.
    const first = attempts[0] ?? expect.fail('the silent instance was never tried')
    const hangEnd = first.closedAt ?? Number.POSITIVE_INFINITY
    for (const id of healthyIds) {
      const during = rows.filter(
        (r) =>
          r.instance_id === id && r.taken_at.getTime() >= first.openedAt && r.taken_at.getTime() < hangEnd,
      )
      expect(during.length, `instance ${id} collected nothing while the silent one hung`).toBeGreaterThan(0)
    }
  }, 90_000)

  it('records the silent instance as unreachable, every group failed with connection_timeout', async () => {
    const rows = await waitFor(
      'the silent instance recorded',
      async () => {
        const rows = await snapshots([silentId])
        return groupNames.every((g) => rows.some((r) => r.group_name === g)) ? rows : undefined
      },
      async () => `silent instance not recorded: ${JSON.stringify(await snapshots([silentId]))}`,
    )
    for (const row of rows) {
      expect(row.status).toBe('failed')
      expect(row.error_code).toBe('connection_timeout')
      // The connect deadline ended it (postgres.js' connect_timeout or ours, whichever fired
      // first), not the longer deadline on queries.
      expect(row.error).toMatch(
        new RegExp(
          `^no (answer from 127\\.0\\.0\\.1:${silentPort} in time|complete PostgreSQL answer from 127\\.0\\.0\\.1:${silentPort} within ${connectTimeoutMs} ms)$`,
        ),
      )
    }
  }, 90_000)

  it('backs off exponentially between attempts on the silent instance', async () => {
    // Back-off after failure n: 1 s · 2^(n-1), ±20 %; each attempt hangs for the connect timeout.
    await waitFor(
      'four attempts on the silent instance',
      async () => (attempts.length >= 4 ? true : undefined),
      async () => `attempts: ${JSON.stringify(attempts)}; back-offs: ${JSON.stringify(backoffs)}`,
    )
    expect(backoffs.length).toBeGreaterThanOrEqual(3)
    for (const [i, backoff] of backoffs.slice(0, 3).entries()) {
      const base = 1000 * 2 ** i
      // As the worker scheduled it (read as it was assigned, so the same instant but for the
      // property set between the two clock reads).
      expect(backoff.until - backoff.setAt, `back-off ${i + 1}`).toBeGreaterThanOrEqual(base * 0.8 - 50)
      expect(backoff.until - backoff.setAt, `back-off ${i + 1}`).toBeLessThanOrEqual(base * 1.2)
      // And kept: the next attempt came no earlier than the back-off allowed.
      const next = attempts[i + 1] ?? expect.fail(`no attempt after back-off ${i + 1}`)
      expect(next.openedAt, `attempt ${i + 2}`).toBeGreaterThanOrEqual(backoff.until)
    }
    // Every attempt failed the same way and was recorded: one failed snapshot per group each time.
    const [counts] = await t.deps.db.sql<{ n: number; other: number }[]>`
      select count(*)::int as n, count(*) filter (where error_code <> 'connection_timeout')::int as other
        from sn_stat_snapshot where instance_id = ${silentId}`
    expect(counts?.other).toBe(0)
    expect(counts?.n).toBeGreaterThanOrEqual(3 * groupNames.length)
    // One attempt at a time.
    expect(mostOpen).toBe(1)
  }, 90_000)

  it('keeps collecting the healthy instances and never makes a tick wait', async () => {
    // Two more activity rounds after the first, all of them ok.
    await waitFor(
      'three activity rounds on every healthy instance',
      async () => {
        const rows = (await snapshots(healthyIds)).filter((r) => r.group_name === 'activity')
        return healthyIds.every((id) => rows.filter((r) => r.instance_id === id).length >= 3) || undefined
      },
      async () => `activity: ${JSON.stringify(await snapshots(healthyIds))}`,
    )
    const rows = (await snapshots(healthyIds)).filter((r) => r.group_name === 'activity')
    expect(rows.filter((r) => r.status !== 'ok')).toEqual([])
    // Ticks go on while the silent instance hangs: during each of its finished attempts at least
    // one tick ended. A tick that waited for the silent instance would end only after it.
    const tickEnds = driver?.tickEnds ?? []
    const finished = attempts.filter((a) => a.closedAt !== undefined)
    expect(finished.length).toBeGreaterThanOrEqual(3)
    for (const [i, attempt] of finished.entries()) {
      const during = tickEnds.filter((end) => end > attempt.openedAt && end < (attempt.closedAt as number))
      expect(during.length, `ticks during attempt ${i + 1}`).toBeGreaterThan(0)
    }
  }, 90_000)
})
