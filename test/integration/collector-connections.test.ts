// Per-database connections kept between rounds (issue 17): the first N databases of an instance
// keep one connection from round to round (same backend), databases beyond N connect for the round
// only, and a database that disappears loses its connection without a failed snapshot.
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { startTestApp, type TestApp } from '../support/app.ts'
import { until as pollUntil } from '../support/until.ts'

const token = 'collector-connections-admin-token-0123'
const password = 'Mon1tor-pass-phrase'
const suffix = Math.random().toString(36).slice(2, 8)
const role = `pga_conn_${suffix}`
const databases = ['a', 'b', 'c'].map((d) => `pool_${suffix}_${d}`)
let t: TestApp
let admin: postgres.Sql
let instanceId: string

type Worker = { nextDue: Map<string, number> }
const scheduler = () =>
  (
    t.deps.collector as unknown as {
      scheduler: { tick(): Promise<void>; owned: Map<string, { worker: Worker }> }
    }
  ).scheduler

beforeAll(async () => {
  t = await startTestApp({
    PGA_ADMIN_TOKEN: token,
    PGA_COLLECTOR_ENABLED: 'false',
    PGA_COLLECTOR_DATABASE_CONNECTIONS: '2',
  })
  admin = postgres(inject('pgUrl'), { max: 1, onnotice: () => {} })
  await admin.unsafe(`create role ${role} login password '${password}' in role pg_monitor`)
  for (const name of databases) await admin.unsafe(`create database ${name}`)
  await t.deps.collector.maintainPartitions()
  const url = new URL(inject('pgUrl'))
  const res = await t.app.request('/api/v1/instances', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: JSON.stringify({
      name: `pool-${suffix}`,
      host: '127.0.0.1',
      port: Number(url.port),
      username: role,
      password,
      sslmode: 'disable',
      includeDatabases: [`pool_${suffix}_*`],
    }),
  })
  const body = (await res.json()) as { id: string }
  expect(res.status, JSON.stringify(body)).toBe(201)
  instanceId = body.id
}, 120_000)

afterAll(async () => {
  await t?.close()
  for (const name of databases) await admin?.unsafe(`drop database if exists ${name} with (force)`)
  await admin?.unsafe(`drop role if exists ${role}`)
  await admin?.end()
})

/** The shared poll, with this file's deadline. */
const until = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000) =>
  pollUntil(what, probe, { timeoutMs, intervalMs: 100 })

const tableSnapshots = async () =>
  t.deps.db.sql<{ datname: string; status: string; n: number }[]>`
    select datname, status, count(*)::int as n from sn_stat_snapshot
     where instance_id = ${instanceId} and group_name = 'tables' group by datname, status order by datname`

/** Makes the tables group due and runs the scheduler until its round has visited `expected`. */
async function tablesRound(expected: string[]) {
  const before = new Map((await tableSnapshots()).map((r) => [r.datname, r.n]))
  scheduler().owned.get(instanceId)?.worker.nextDue.set('tables', 0)
  await until(`a tables round over ${expected.join(', ')}`, async () => {
    await scheduler().tick()
    const now = await tableSnapshots()
    const advanced = expected.every((d) => (now.find((r) => r.datname === d)?.n ?? 0) > (before.get(d) ?? 0))
    return advanced ? true : undefined
  })
}

/** The collector's backends to the pool databases, by database. */
async function collectorBackends(): Promise<Map<string, number[]>> {
  const rows = await admin<{ datname: string; pid: number }[]>`
    select datname::text, pid from pg_stat_activity
     where usename = ${role} and application_name = 'pganalytics collector' and datname like ${`pool_${suffix}_%`}
     order by datname, pid`
  const byDatabase = new Map<string, number[]>()
  for (const row of rows) byDatabase.set(row.datname, [...(byDatabase.get(row.datname) ?? []), row.pid])
  return byDatabase
}

/** Backends settle once the round's transient connection has ended. */
const settledBackends = (expected: string[]) =>
  until(`collector backends on exactly ${expected.join(', ')}`, async () => {
    const backends = await collectorBackends()
    return [...backends.keys()].join() === expected.join() ? backends : undefined
  })

describe('per-database connections', () => {
  it('keeps the first N databases connected between rounds; the rest connect for the round', async () => {
    const [a, b, c] = databases as [string, string, string]
    await tablesRound([a, b, c])
    const first = await settledBackends([a, b])
    expect(first.get(a)).toHaveLength(1)
    expect(first.get(b)).toHaveLength(1)

    await tablesRound([a, b, c])
    const second = await settledBackends([a, b])
    // The same backends: no new connection (start-up, authentication, fork) for a and b.
    expect(second).toEqual(first)
    expect((await tableSnapshots()).filter((r) => r.status !== 'ok')).toEqual([])
  })

  it('lets a dropped database go without a failure, and gives its place to the next one', async () => {
    const [a, b, c] = databases as [string, string, string]
    const before = await settledBackends([a, b])
    await admin.unsafe(`drop database ${b} with (force)`)
    await tablesRound([a, c])
    const after = await settledBackends([a, c])
    expect(after.get(a)).toEqual(before.get(a))
    await tablesRound([a, c])
    // c is kept now: its backend survives the round.
    expect((await settledBackends([a, c])).get(c)).toEqual(after.get(c))
    expect((await tableSnapshots()).filter((r) => r.status !== 'ok')).toEqual([])
  })
})
