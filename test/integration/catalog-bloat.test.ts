// Bloat and shared-buffer groups against the situations they exist to show, on the test run's
// PostgreSQL: a table that lost most of its rows (its pages stay until VACUUM FULL), its index
// likewise, dead tuples pgstattuple_approx measures, a table held under an AccessExclusiveLock
// that must be skipped rather than stall the group, and a table read into shared buffers. Each
// group is read as the catalog plans it, as superuser and as a login with only pg_monitor
// (catalog.test.ts checks the column shapes on every server, PGlite 18 included).
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { findGroup, planGroup, queryParams } from '../../src/collector/catalog/index.ts'
import { probeCapabilities } from '../../src/instances/probe.ts'
import { createTestDatabase } from '../harness/postgres.ts'

type Row = Record<string, unknown>
const role = `pga_bloat_${Math.random().toString(36).slice(2, 8)}`
let admin: postgres.Sql
let monitor: postgres.Sql
let url: string

/** Runs a group exactly as the collector would on this connection; `limit` overrides its cap. */
async function collect(sql: postgres.Sql, groupName: string, limit?: number): Promise<Row[]> {
  const group = findGroup(groupName)
  if (!group) throw new Error(`no group ${groupName}`)
  const plan = planGroup(group, await probeCapabilities(sql))
  if ('unavailable' in plan) throw new Error(`${groupName} unavailable: ${plan.unavailable}`)
  const params = queryParams(group, plan).map((p, i) => (i === 0 && limit ? String(limit) : p))
  const rows = await sql.unsafe(plan.sql, params)
  expect(rows.columns.map((c) => c.name)).toEqual(group.columns.map((c) => c.name))
  return [...rows] as Row[]
}

beforeAll(async () => {
  url = await createTestDatabase(inject('pgUrl'))
  admin = postgres(url, { max: 1, onnotice: () => {} })
  await admin.unsafe(`create role ${role} login in role pg_monitor`)
  const monitorUrl = new URL(url)
  monitorUrl.username = role
  monitor = postgres(monitorUrl.toString(), { max: 1, onnotice: () => {} })
  // Two tables of the same shape: one keeps its rows, the other loses 90% of them (its pages
  // stay: plain VACUUM only truncates empty pages at the end).
  for (const name of ['kept', 'emptied']) {
    await admin.unsafe(`create table ${name} (id int primary key, note text not null)`)
    await admin.unsafe(`insert into ${name} select g, repeat('n', 60) from generate_series(1, 20000) g`)
  }
  await admin`delete from emptied where id % 10 <> 0`
  await admin`vacuum analyze kept`
  await admin`vacuum analyze emptied`
}, 60_000)

afterAll(async () => {
  await monitor?.end()
  await admin?.end()
})

describe('table_bloat and index_bloat', () => {
  it('estimate the space a table and its index hold beyond their rows from the statistics', async () => {
    const tables = await collect(admin, 'table_bloat')
    const of = (name: string) => tables.find((r) => r.relname === name)
    expect(of('kept')).toMatchObject({ schemaname: 'public', estimated: true, fillfactor: 100 })
    expect(Number(of('kept')?.bloat_fraction)).toBeLessThan(0.2)
    expect(of('emptied')).toMatchObject({ estimated: true })
    expect(Number(of('emptied')?.bloat_fraction)).toBeGreaterThan(0.8)
    expect(Number(of('emptied')?.size_bytes)).toBe(Number(of('kept')?.size_bytes))
    expect(Number(of('emptied')?.bloat_bytes)).toBe(
      Number(of('emptied')?.size_bytes) - Number(of('emptied')?.expected_bytes),
    )
    // Most bloated first.
    expect(tables.indexOf(of('emptied') as Row)).toBeLessThan(tables.indexOf(of('kept') as Row))
    const indexes = await collect(admin, 'index_bloat')
    const index = (name: string) => indexes.find((r) => r.indexrelname === name)
    expect(index('emptied_pkey')).toMatchObject({ relname: 'emptied', estimated: true, fillfactor: 90 })
    expect(Number(index('emptied_pkey')?.bloat_fraction)).toBeGreaterThan(0.7)
    expect(Number(index('kept_pkey')?.bloat_fraction)).toBeLessThan(0.3)
    // The cap bounds what is estimated: the largest relations by pages.
    expect(await collect(admin, 'table_bloat', 1)).toHaveLength(1)
  })

  it('make no estimate where the login cannot read the statistics, until it may', async () => {
    const hidden = (await collect(monitor, 'table_bloat')).find((r) => r.relname === 'emptied')
    expect(hidden).toMatchObject({ estimated: false, expected_bytes: null, bloat_bytes: null })
    expect(Number(hidden?.size_bytes)).toBeGreaterThan(0)
    const hiddenIndex = (await collect(monitor, 'index_bloat')).find((r) => r.indexrelname === 'emptied_pkey')
    expect(hiddenIndex).toMatchObject({ estimated: false, bloat_bytes: null })
    await admin.unsafe(`grant select on emptied to ${role}`)
    const shown = (await collect(monitor, 'table_bloat')).find((r) => r.relname === 'emptied')
    expect(shown).toMatchObject({ estimated: true })
    expect(Number(shown?.bloat_fraction)).toBeGreaterThan(0.8)
  })

  it('never estimates a table that was never analyzed', async () => {
    await admin`create table fresh (id int)`
    await admin`insert into fresh select generate_series(1, 5000)`
    const row = (await collect(admin, 'table_bloat')).find((r) => r.relname === 'fresh')
    expect(row).toMatchObject({ estimated: false, bloat_bytes: null })
  })
})

describe('bloat_approx', () => {
  it('is off without pgstattuple, then measures dead tuples and skips a table held exclusively', async () => {
    const group = findGroup('bloat_approx')
    const before = planGroup(group as never, await probeCapabilities(admin))
    expect(before).toEqual({ unavailable: expect.stringContaining('pgstattuple extension is not installed') })
    await admin`create extension pgstattuple`
    await admin`create table churn (id int primary key, note text)`
    await admin`insert into churn select g, repeat('c', 200) from generate_series(1, 20000) g`
    await admin`delete from churn where id <= 10000`
    for (const sql of [admin, monitor]) {
      const rows = await collect(sql, 'bloat_approx')
      const churn = rows.find((r) => r.relname === 'churn')
      expect(churn).toMatchObject({ schemaname: 'public', skipped: false })
      expect(Number(churn?.dead_tuples)).toBe(10000)
      expect(Number(churn?.dead_bytes)).toBeGreaterThan(10000 * 200)
      expect(Number(churn?.reclaimable_fraction)).toBeGreaterThan(0.4)
    }
    // Another session holds churn exclusively: the group skips it instead of waiting on the lock.
    const locker = postgres(url, { max: 1, onnotice: () => {} })
    const held = await locker.reserve()
    try {
      await held`begin`
      await held`lock table churn in access exclusive mode`
      await admin`set lock_timeout = '2s'`
      const rows = await collect(admin, 'bloat_approx')
      expect(rows.find((r) => r.relname === 'churn')).toMatchObject({ skipped: true, dead_tuples: null })
      expect(rows.find((r) => r.relname === 'kept')).toMatchObject({ skipped: false })
    } finally {
      await admin`reset lock_timeout`
      await held`rollback`
      held.release()
      await locker.end()
    }
  })
})

describe('buffer_pool and buffer_usage', () => {
  it('show the pool and what a table just read holds, per database and relation', async () => {
    expect(planGroup(findGroup('buffer_pool') as never, await probeCapabilities(admin))).toEqual({
      unavailable: expect.stringContaining('pg_buffercache extension is not installed'),
    })
    await admin`create extension pg_buffercache`
    await admin`select count(*) from kept`
    const [database] = await admin<{ name: string }[]>`select current_database() as name`
    const [{ setting }] =
      (await admin`select setting from pg_settings where name = 'shared_buffers'`) as unknown as [
        { setting: string },
      ]
    for (const sql of [admin, monitor]) {
      const [pool] = await collect(sql, 'buffer_pool')
      expect(pool?.pool_buffers).toBe(setting)
      expect(Number(pool?.buffers_used) + Number(pool?.buffers_unused)).toBe(Number(setting))
      expect(Number(pool?.buffers_used)).toBeGreaterThan(0)
      const usage = await collect(sql, 'buffer_usage', 10_000)
      const kept = usage.find((r) => r.relation === 'kept')
      expect(kept).toMatchObject({ datname: database?.name })
      expect(Number(kept?.buffers)).toBeGreaterThan(0)
      expect(Number(kept?.bytes)).toBe(Number(kept?.buffers) * 8192)
      // The heap read whole fits in the pool: every page of it is cached.
      expect(Number(kept?.relation_fraction)).toBeCloseTo(1, 1)
      const total = usage.find((r) => r.datname === database?.name && r.relation === null)
      expect(Number(total?.buffers)).toBeGreaterThanOrEqual(Number(kept?.buffers))
      // Shared catalogs are named too, under no database.
      expect(usage.some((r) => r.datname === null && String(r.relation).startsWith('pg_'))).toBe(true)
    }
    // The cap keeps the relations holding most buffers, plus one total row per database.
    const capped = await collect(admin, 'buffer_usage', 2)
    expect(capped.filter((r) => r.relation !== null)).toHaveLength(2)
  })

  it('find the extension in whatever schema it was created in', async () => {
    await admin`create schema tools`
    await admin`alter extension pg_buffercache set schema tools`
    // As for any schema, the login needs USAGE on it.
    await admin.unsafe(`grant usage on schema tools to ${role}`)
    try {
      expect((await probeCapabilities(monitor)).extensionSchemas?.pg_buffercache).toBe('tools')
      const [pool] = await collect(monitor, 'buffer_pool')
      expect(Number(pool?.buffers_used)).toBeGreaterThan(0)
    } finally {
      await admin`alter extension pg_buffercache set schema public`
    }
  })
})
