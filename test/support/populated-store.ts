// A store filled by real collection, for the dashboard and alert tests: a streaming primary and
// standby (replication rig) added with a pg_monitor-only login, pg_stat_statements, a table with an
// unused index, a blocking chain held open during the second round, an unreachable instance (its
// collections fail), host samples pushed by the agent (this machine's /proc), and backups of the
// primary with continuous WAL and a restore drill. Two collection
// rounds fall in different 15 s intervals (Grafana's smallest here), so counters have rates.
import postgres from 'postgres'
import { expect } from 'vitest'
import { Agent } from '../../src/agent/run.ts'
import { metricGroups } from '../../src/collector/catalog/index.ts'
import { freePort, tempDir } from '../harness/processes.ts'
import type { ReplicationRig } from '../harness/replication-rig.ts'
import { apiCaller, type Json, settledJob } from './api.ts'
import type { TestApp } from './app.ts'
import { pause, until } from './until.ts'

export type PopulatedStore = { primaryId: string; standbyId: string; downId: string; agentKey: string }

type Scheduler = {
  tick(now?: number): Promise<void>
  owned: Map<string, { worker: { nextDue: Map<string, number> } }>
}
const schedulerOf = (t: TestApp) => (t.deps.collector as unknown as { scheduler: Scheduler }).scheduler

/** Ticks the scheduler until every group of the instances has `rounds` snapshots. */
async function collectRounds(t: TestApp, ids: string[], rounds: number, timeoutMs = 60_000) {
  let pending: number | undefined
  await until(
    `${rounds} collections of every group`,
    async () => {
      const [row] = await t.deps.db.sql<{ pending: number }[]>`
        select count(*)::int as pending from unnest(${ids}::uuid[]) i cross join unnest(${metricGroups.map((g) => g.name)}::text[]) g
         where (select count(*) from sn_stat_snapshot s where s.instance_id = i and s.group_name = g) < ${rounds}`
      pending = row?.pending
      if (pending === 0) return true
      await schedulerOf(t).tick()
      return false
    },
    { timeoutMs, intervalMs: 200, explain: () => `${pending} group collections missing` },
  )
}

/** Makes every group of the instances due now. */
function dueNow(t: TestApp, ids: string[]) {
  for (const id of ids) {
    const due = schedulerOf(t).owned.get(id)?.worker.nextDue
    for (const group of due?.keys() ?? []) due?.set(group, 0)
  }
}

/** Waits until the clock is in a later 15 s interval than `time`. */
async function nextInterval(time: number) {
  const bucket = Math.floor(time / 15_000)
  while (Math.floor(Date.now() / 15_000) <= bucket) await pause(250)
}

async function addInstance(t: TestApp, token: string, body: Record<string, unknown>, test = true) {
  const res = await t.app.request(`/api/v1/instances${test ? '' : '?test=false'}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  })
  const json = (await res.json()) as { id: string }
  expect(res.status, JSON.stringify(json)).toBe(201)
  return json.id
}

/** On the primary: pg_stat_statements, a pg_monitor login, a database with a table and an unused index. */
async function prepareMonitoredServer(rig: ReplicationRig) {
  const role = `pga_dash_${Math.random().toString(36).slice(2, 8)}`
  const admin = postgres(rig.primaryUrl, { max: 1, onnotice: () => {} })
  await admin`create extension if not exists pg_stat_statements`
  await admin.unsafe(`create role ${role} login password 'Dash-board-pass' in role pg_monitor`)
  await admin`create database shop`
  const shopUrl = rig.primaryUrl.replace(/\/postgres$/, '/shop')
  const shop = postgres(shopUrl, { max: 2, onnotice: () => {} })
  await shop`create table orders (id bigint primary key, note text, amount int)`
  await shop`create index orders_note on orders (note)`
  await shop`insert into orders select g, 'n' || g, g % 100 from generate_series(1, 2000) g`
  // The standby signs the login in only once it has replayed the role (a loaded machine lags).
  await rig.caughtUp()
  return { role, admin, shop, shopUrl }
}

/** The primary's host agent, pushing in-process to the app (this machine's /proc). */
async function hostAgent(t: TestApp, token: string, instanceId: string) {
  const keyRes = await t.app.request('/api/v1/api-keys', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: JSON.stringify({ name: 'dashboards agent', role: 'agent', instanceId }),
  })
  const key = ((await keyRes.json()) as { key: string }).key
  const directories = {
    queueDir: tempDir('dash-agent'),
    dataDirectory: tempDir('dash-pgdata'),
    walDirectory: tempDir('dash-wal'),
  }
  const settings = {
    url: 'http://pganalytics.test',
    instanceId,
    key,
    intervalMs: 15_000,
    queueMaxBytes: 1 << 24,
    timeoutMs: 10_000,
  }
  const hostTrees = { procfs: '/proc', sysfs: '/sys', rootfs: '/' }
  const fetchApp = ((input: string | URL | Request, init?: RequestInit) =>
    t.app.request(String(input), init)) as typeof fetch
  return { key, agent: new Agent({ ...settings, ...directories, ...hostTrees }, t.deps.log, fetchApp) }
}

/** Holds an exclusive lock on orders in one session and starts a query that waits for it. */
async function blockingChain(shopUrl: string, shop: postgres.Sql, admin: postgres.Sql) {
  let release = () => {}
  let locked = () => {}
  const held = new Promise<void>((resolve) => {
    release = resolve
  })
  const lockTaken = new Promise<void>((resolve) => {
    locked = resolve
  })
  const holder = postgres(shopUrl, { max: 1, onnotice: () => {} })
  const holding = holder.begin(async (sql) => {
    await sql`lock table orders in access exclusive mode`
    locked()
    await held
  })
  await lockTaken
  const waiting = shop`select count(*) from orders`.catch(() => null)
  await until(
    'a session waiting on the lock in shop',
    async () =>
      (await admin`select 1 from pg_stat_activity where wait_event_type = 'Lock' and datname = 'shop'`)
        .length > 0,
  )
  return async () => {
    release()
    await Promise.all([holding, waiting])
    await holder.end()
  }
}

export async function populateStore(t: TestApp, rig: ReplicationRig, token: string): Promise<PopulatedStore> {
  const { role, admin, shop, shopUrl } = await prepareMonitoredServer(rig)
  const port = (url: string) => Number(new URL(url).port)
  const login = { host: '127.0.0.1', username: role, password: 'Dash-board-pass', sslmode: 'disable' }
  const primaryId = await addInstance(t, token, {
    name: 'primary',
    port: port(rig.primaryUrl),
    ...login,
    // The rig trusts replication connections from loopback: backups and continuous WAL.
    replicationUsername: 'postgres',
    walStreaming: true,
  })
  const standbyId = await addInstance(t, token, { name: 'standby', port: port(rig.standbyUrl), ...login })
  const downId = await addInstance(t, token, { name: 'unreachable', port: await freePort(), ...login }, false)
  const ids = [primaryId, standbyId, downId]
  const { key: agentKey, agent } = await hostAgent(t, token, primaryId)
  try {
    await t.deps.collector.maintainPartitions()
    await collectRounds(t, ids, 1)
    await agent.sample()
    expect((await agent.flush()).waiting).toBe(0)
    for (let i = 0; i < 30; i++) await shop`select count(*) from orders where note = ${`n${i}`}`
    await shop`update orders set amount = amount + 1 where id <= 500`
    const [last] = await t.deps.db.sql<{ at: Date }[]>`select max(taken_at) as at from sn_stat_snapshot`
    await nextInterval(last?.at.getTime() ?? Date.now())
    // The second round sees a blocking chain: one session holds a lock, another waits for it.
    const releaseChain = await blockingChain(shopUrl, shop, admin)
    dueNow(t, ids)
    await collectRounds(t, ids, 2)
    await releaseChain()
    await agent.sample()
    expect((await agent.flush()).waiting).toBe(0)
    await backupAndDrill(t, token, primaryId)
  } finally {
    agent.close()
    await shop.end()
    await admin.end()
  }
  return { primaryId, standbyId, downId, agentKey }
}

/** A full and an incremental backup of the primary, its continuous WAL stored, and a restore drill. */
async function backupAndDrill(t: TestApp, token: string, instanceId: string) {
  const call = apiCaller((path, init) => t.app.request(path, init), token)
  const settle = (path: string) => settledJob(call, path, 120_000)
  let last: Json = {}
  for (const type of ['full', 'incremental']) {
    const started = await call('POST', '/api/v1/backups/trigger', { instanceId, type, compression: 'gzip' })
    last = await settle(`/api/v1/backups/${started.body.id}`)
    expect(last.status, JSON.stringify(last)).toBe('completed')
  }
  await t.deps.backup.wal.sync()
  await until(
    'the continuous WAL of the primary stored',
    async () =>
      (
        await t.deps.db
          .sql`select 1 from backup_wal_streams where instance_id = ${instanceId} and stored_at is not null`
      ).length > 0,
  )
  const drill = await call('POST', `/api/v1/backups/${last.id}/restore`, { mode: 'verify' })
  const restored = await settle(`/api/v1/restore-operations/${drill.body.id}`)
  expect(restored.status, JSON.stringify(restored)).toBe('completed')
}
