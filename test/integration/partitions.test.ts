// Daily partitions of the snapshot tables: created ahead, dropped whole past retention, and a
// write into a day without a partition creates it and succeeds.
import postgres from 'postgres'
import { afterAll, beforeAll, expect, inject, it } from 'vitest'
import { findGroup, valueColumns } from '../../src/collector/catalog/index.ts'
import {
  dropExpiredPartitions,
  ensurePartitions,
  maintainPartitions,
} from '../../src/collector/partitions.ts'
import { retentionPlan } from '../../src/collector/service.ts'
import { writeSnapshot } from '../../src/collector/snapshot-repo.ts'
import { readMigrationsDir } from '../../src/platform/db/migration-files.ts'
import { runMigrations } from '../../src/platform/db/migrations.ts'
import { createLogger } from '../../src/platform/log.ts'
import { createTestDatabase } from '../harness/postgres.ts'

let store: postgres.Sql
const day = 86_400_000
const now = Date.parse('2026-11-21T12:00:00Z')
const tables = [
  { table: 'sn_stat_snapshot', retentionDays: 30 },
  { table: 'sn_stat_bgwriter', retentionDays: 30 },
  { table: 'sn_stat_activity', retentionDays: 7 },
]

beforeAll(async () => {
  store = postgres(await createTestDatabase(inject('pgUrl')), { max: 2, onnotice: () => {} })
  await runMigrations(store, readMigrationsDir(), createLogger({ level: 'error', write: () => {} }))
})
afterAll(async () => {
  await store?.end()
})

const partitionsOf = async (table: string) =>
  (
    await store<{ name: string }[]>`
      select c.relname::text as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
       where i.inhparent = ${table}::regclass order by 1`
  ).map((r) => r.name)

it('creates yesterday to three days ahead, once, even when replicas race', async () => {
  const created = await Promise.all([
    ensurePartitions(store, tables, now),
    ensurePartitions(store, tables, now),
  ])
  expect(created.sort()).toEqual([0, 15])
  expect(await partitionsOf('sn_stat_bgwriter')).toEqual([
    'sn_stat_bgwriter_p20261120',
    'sn_stat_bgwriter_p20261121',
    'sn_stat_bgwriter_p20261122',
    'sn_stat_bgwriter_p20261123',
    'sn_stat_bgwriter_p20261124',
  ])
})

it('maintains in one call: creates the missing days and drops the expired ones', async () => {
  const later = now + 60 * day
  const { created, dropped } = await maintainPartitions(store, tables, later)
  expect(created).toBe(15)
  // Everything from the earlier tests is past every retention 60 days on.
  expect(dropped).toContain('sn_stat_bgwriter_p20261120')
  expect(await partitionsOf('sn_stat_bgwriter')).toEqual([
    'sn_stat_bgwriter_p20270119',
    'sn_stat_bgwriter_p20270120',
    'sn_stat_bgwriter_p20270121',
    'sn_stat_bgwriter_p20270122',
    'sn_stat_bgwriter_p20270123',
  ])
})

it('drops whole partitions past each table’s retention and keeps the rest', async () => {
  await ensurePartitions(store, tables, now - 40 * day, 0)
  await ensurePartitions(store, tables, now - 10 * day, 0)
  const dropped = await dropExpiredPartitions(store, tables, now)
  expect(dropped.sort()).toEqual(
    [
      'sn_stat_activity_p20261012',
      'sn_stat_activity_p20261011',
      'sn_stat_activity_p20261110',
      'sn_stat_activity_p20261111',
      'sn_stat_bgwriter_p20261012',
      'sn_stat_bgwriter_p20261011',
      'sn_stat_snapshot_p20261012',
      'sn_stat_snapshot_p20261011',
    ].sort(),
  )
  expect(await partitionsOf('sn_stat_bgwriter')).toContain('sn_stat_bgwriter_p20261111')
})

it('a write into a day without a partition fails with 23514, which the worker turns into a new partition', async () => {
  const group = findGroup('bgwriter')
  if (!group) throw new Error('no bgwriter group')
  const header = {
    instanceId: crypto.randomUUID(),
    group: 'bgwriter',
    datname: null,
    takenAt: '2027-03-01T00:00:00Z',
    durationMs: 1,
    variant: 'test',
    replica: 'test',
  }
  const rows = JSON.stringify([{ buffers_clean: 1, maxwritten_clean: 0, buffers_alloc: 5 }])
  const error = await writeSnapshot(store, group, header, rows).catch((e) => e)
  expect(error.code).toBe('23514')
  await ensurePartitions(
    store,
    [
      { table: 'sn_stat_snapshot', retentionDays: 30 },
      { table: 'sn_stat_bgwriter', retentionDays: 30 },
    ],
    Date.parse(header.takenAt),
    0,
  )
  const written = await writeSnapshot(store, group, header, rows)
  expect(written.rowCount).toBe(1)
  const [row] = await store`select buffers_alloc::int from sn_stat_bgwriter where snap_id = ${written.snapId}`
  expect(row?.buffers_alloc).toBe(5)
})

it('ANALYZE skips the value columns: on the parents (migration) and on each new partition', async () => {
  const group = findGroup('tables')
  if (!group) throw new Error('no tables group')
  const targets = async (relation: string) =>
    Object.fromEntries(
      (
        await store<{ name: string; target: number }[]>`
          select attname::text as name, attstattarget::int as target from pg_attribute
           where attrelid = ${relation}::regclass and attnum > 0 and not attisdropped`
      ).map((r) => [r.name, r.target]),
    )
  const [plan] = retentionPlan({ retentionDays: {} } as never).filter((t) => t.table === 'sn_stat_tables')
  if (!plan) throw new Error('no plan for sn_stat_tables')
  expect(plan.noStatistics).toEqual(valueColumns(group))
  await ensurePartitions(store, [plan], Date.parse('2030-01-15T12:00:00Z'), 0)
  for (const relation of ['sn_stat_tables', 'sn_stat_tables_p20300115']) {
    const found = await targets(relation)
    // Counters and gauges: none; what reads filter and group on: the default.
    expect(found.n_live_tup, relation).toBe(0)
    expect(found.seq_scan, relation).toBe(0)
    for (const kept of ['instance_id', 'taken_at', 'snap_id', 'datname', 'schemaname', 'relname'])
      expect(found[kept], `${relation}.${kept}`).toBe(-1)
  }
})
