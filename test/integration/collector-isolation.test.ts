// One dead instance never delays the others. A TCP server that accepts connections and never
// answers stands in for a stopped VM / half-open connection; next to it, healthy instances on the
// test cluster. The healthy ones get every group collected while the silent one still hangs in its
// first connect, and keep their cadence; the scheduler's tick never waits on the silent one; its
// failures are recorded as connection_timeout snapshots, and its attempts are spaced by an
// exponential back-off.
import { createServer, type Server, type Socket } from 'node:net'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { metricGroups } from '../../src/collector/catalog/index.ts'
import { startTestApp, type TestApp } from '../support/app.ts'

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
let silent: Server
let silentPort: number
let t: TestApp
let admin: postgres.Sql

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

beforeAll(async () => {
  silent = createServer((socket) => {
    const attempt: Attempt = { openedAt: Date.now() }
    attempts.push(attempt)
    sockets.add(socket)
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
    PGA_COLLECTOR_CONNECT_TIMEOUT: '2s',
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

type Worker = { running: boolean; nextDue: Map<string, number> }
type Scheduler = { tick(now?: number): Promise<void>; owned: Map<string, { worker: Worker }> }
const scheduler = () => (t.deps.collector as unknown as { scheduler: Scheduler }).scheduler

/** Ticks the scheduler every 100 ms, as start() would (finer), timing every tick. Keeps every
 * group of `alwaysDue` due, so only the back-off decides when it is tried again (intervals are at
 * least 5 s and would otherwise hide the first steps of the back-off). */
function driveScheduler(alwaysDue: string) {
  let stopped = false
  const tickMs: number[] = []
  const done = (async () => {
    while (!stopped) {
      const worker = scheduler().owned.get(alwaysDue)?.worker
      for (const group of worker?.nextDue.keys() ?? []) worker?.nextDue.set(group, 0)
      const started = performance.now()
      await scheduler().tick()
      tickMs.push(performance.now() - started)
      await sleep(100)
    }
  })()
  return {
    tickMs,
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

/** Polls `check` every 50 ms until it returns a value, or fails with `explain()` after timeoutMs. */
async function waitFor<T>(
  check: () => Promise<T | undefined>,
  timeoutMs: number,
  explain: () => Promise<string>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (Date.now() > deadline)
      throw new Error(`${await explain()}; log: ${t.logs.lines.slice(-20).join('\n')}`)
    await sleep(50)
  }
}

describe('collector isolation from a dead instance', () => {
  let silentId: string
  let healthyIds: string[]
  let startedAt: number

  it('collects every group of the healthy instances while the silent one hangs', async () => {
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
    startedAt = Date.now()
    driver = driveScheduler(silentId)

    const completedAt = await waitFor(
      async () => {
        const rows = await snapshots(healthyIds)
        const complete = healthyIds.every((id) =>
          groupNames.every((g) => rows.some((r) => r.instance_id === id && r.group_name === g)),
        )
        return complete ? Date.now() : undefined
      },
      5000,
      async () => `healthy instances incomplete: ${JSON.stringify(await snapshots(healthyIds))}`,
    )
    // Still inside the silent instance's first attempt: its connection is open, unanswered.
    expect(attempts).toHaveLength(1)
    expect(attempts[0]?.closedAt).toBeUndefined()
    expect(completedAt - startedAt).toBeLessThan(5000)

    const rows = await snapshots(healthyIds)
    const failed = rows.filter((r) => r.status === 'failed')
    expect(failed.map((f) => `${f.group_name}: ${f.error}`)).toEqual([])
    const [silentRows] = await t.deps.db.sql<{ n: number }[]>`
      select count(*)::int as n from sn_stat_snapshot where instance_id = ${silentId}`
    expect(silentRows?.n).toBe(0)
  })

  it('records the silent instance as unreachable, every group failed with connection_timeout', async () => {
    const rows = await waitFor(
      async () => {
        const rows = await snapshots([silentId])
        return groupNames.every((g) => rows.some((r) => r.group_name === g)) ? rows : undefined
      },
      10_000,
      async () => `silent instance not recorded: ${JSON.stringify(await snapshots([silentId]))}`,
    )
    for (const row of rows) {
      expect(row.status).toBe('failed')
      expect(row.error_code).toMatch(/^connection_/)
    }
    expect(new Set(rows.map((r) => r.error_code))).toEqual(new Set(['connection_timeout']))
    expect(rows[0]?.error).toContain(`127.0.0.1:${silentPort}`)
    // The connect timeout (2 s) ended the first attempt, not the later client-side deadline (5 s).
    const first = attempts[0] as Attempt
    expect((first.closedAt as number) - first.openedAt).toBeGreaterThanOrEqual(1900)
    expect((first.closedAt as number) - first.openedAt).toBeLessThan(4000)
  })

  it('backs off exponentially between attempts on the silent instance', async () => {
    // Back-off after failure n: 1 s · 2^(n-1), ±20 %; each attempt hangs for the 2 s connect
    // timeout. Four attempts: ~2 s, ~1 s wait, ~2 s, ~2 s wait, ~2 s, ~4 s wait, then the fourth.
    await waitFor(
      async () => (attempts.length >= 4 ? true : undefined),
      25_000,
      async () => `attempts: ${JSON.stringify(attempts)}`,
    )
    const [a0, a1, a2, a3] = attempts as [Attempt, Attempt, Attempt, Attempt]
    const gaps = [a1.openedAt - (a0.closedAt as number), a2.openedAt - (a1.closedAt as number)]
    gaps.push(a3.openedAt - (a2.closedAt as number))
    // Never retried at once: at least 0.8 s, then 1.6 s, then 3.2 s (less a little for the event loop
    // noticing the hang-up), each wait longer than the last.
    const [gap1, gap2, gap3] = gaps as [number, number, number]
    expect(gap1).toBeGreaterThanOrEqual(700)
    expect(gap1).toBeLessThan(2500)
    expect(gap2).toBeGreaterThanOrEqual(1450)
    expect(gap2).toBeLessThan(4000)
    expect(gap3).toBeGreaterThanOrEqual(3000)
    expect(gap3).toBeLessThan(6500)
    expect(gap2).toBeGreaterThan(gap1)
    expect(gap3).toBeGreaterThan(gap2)
    // Every attempt failed the same way and was recorded: one failed snapshot per group each time.
    const [counts] = await t.deps.db.sql<{ n: number; other: number }[]>`
      select count(*)::int as n, count(*) filter (where error_code <> 'connection_timeout')::int as other
        from sn_stat_snapshot where instance_id = ${silentId}`
    expect(counts?.other).toBe(0)
    expect(counts?.n).toBeGreaterThanOrEqual(3 * groupNames.length)
    expect(sockets.size).toBeLessThanOrEqual(1)
  })

  it('keeps the healthy instances on their cadence and never makes a tick wait', async () => {
    // At least two more activity intervals than the first round.
    await sleep(startedAt + 11_000 - Date.now())
    const ended = Date.now()
    const rows = await snapshots(healthyIds)
    for (const id of healthyIds) {
      const activity = rows.filter((r) => r.instance_id === id && r.group_name === 'activity')
      expect(activity.every((r) => r.status === 'ok')).toBe(true)
      // Every 5 s from the first collection, not held up by the silent instance's 2 s hangs.
      expect(activity.length).toBeGreaterThanOrEqual(Math.floor((ended - startedAt) / 5000))
      const times = activity.map((r) => r.taken_at.getTime())
      const gaps = times.slice(1).map((time, i) => time - (times[i] as number))
      expect(Math.max(...gaps)).toBeLessThan(6000)
    }
    const ticks = driver?.tickMs ?? []
    expect(ticks.length).toBeGreaterThan(20)
    expect(Math.max(...ticks)).toBeLessThan(1000)
  })
})
