// Collection on a server with thousands of relations, one of them under an AccessExclusiveLock
// held by an open transaction: a real instance worker stores bounded tables and indexes
// snapshots, the locked table's sizes skipped and counted instead of the round failing at
// lock_timeout. The columns built from the statistics functions equal what the pg_stat and
// pg_statio views say. Statements are ranked by their change since the previous run, so a
// statement hot now is kept even when its cumulative totals are small.

import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import {
  findGroup,
  type MetricGroup,
  metricGroups,
  type PlannedQuery,
  planGroup,
  queryParams,
} from '../../src/collector/catalog/index.ts'
import { ensurePartitions } from '../../src/collector/partitions.ts'
import { retentionPlan } from '../../src/collector/service.ts'
import { fetchRows } from '../../src/collector/worker-helpers.ts'
import { openInstanceConnection } from '../../src/instances/connection-test.ts'
import { HostPolicy } from '../../src/instances/host-policy.ts'
import { probeCapabilities } from '../../src/instances/probe.ts'
import { readMigrationsDir } from '../../src/platform/db/migration-files.ts'
import { runMigrations } from '../../src/platform/db/migrations.ts'
import { createLogger } from '../../src/platform/log.ts'
import { createTestDatabase } from '../harness/postgres.ts'
import { testInstanceWorker } from '../support/instance-worker.ts'
import { until } from '../support/until.ts'

const tableCount = 3000
const group = (name: string) => findGroup(name) as MetricGroup
let monitoredUrl: string
let monitored: postgres.Sql
let locker: postgres.Sql
let store: postgres.Sql

beforeAll(async () => {
  monitoredUrl = await createTestDatabase(inject('pgUrl'), 'pga_scale')
  monitored = postgres(monitoredUrl, { max: 1, onnotice: () => {} })
  // The oldest relfrozenxid: an empty, idle table that only its transaction ID age ranks high.
  await monitored`create table ancient (id int)`
  for (let i = 0; i < 5; i++) await monitored`select txid_current()`
  // Every table has a primary key (an index) and a text column (a TOAST table): 4 × 3000 relations.
  await monitored.unsafe(`do $$ begin
    for i in 1..${tableCount} loop
      execute format('create table bulk_%s (id int primary key, payload text)', i);
    end loop; end $$`)
  await monitored`create table hot (id int primary key, payload text)`
  await monitored`insert into hot select g, repeat('x', 100) from generate_series(1, 5000) g`
  await monitored`analyze hot`
  const storeUrl = await createTestDatabase(inject('pgUrl'), 'pga_scale_store')
  store = postgres(storeUrl, { max: 2, onnotice: () => {} })
  await runMigrations(store, readMigrationsDir(), createLogger({ level: 'error', write: () => {} }))
  await ensurePartitions(store, retentionPlan({ retentionDays: {} } as never), Date.now())
}, 300_000)

afterAll(async () => {
  await locker?.end({ timeout: 1 })
  await monitored?.end()
  await store?.end()
})

/** One round of a real worker over the monitored database, with the production timeouts. */
async function collectRound(intervals: Record<string, number>) {
  const worker = testInstanceWorker({ store, monitoredUrl, name: 'scale', intervals })
  try {
    await worker.collectDue(Date.now())
  } finally {
    await worker.close()
  }
  return worker.instance.id
}

describe('a server with thousands of tables', () => {
  it('stores bounded tables and indexes snapshots while a table is under an AccessExclusiveLock', async () => {
    // Another session holds the table and its primary key exclusively (ALTER, VACUUM FULL and
    // REINDEX do the same), and stays in its transaction.
    locker = postgres(monitoredUrl, { max: 1, onnotice: () => {} })
    const held = await locker.reserve()
    await held`begin`
    await held`lock table hot in access exclusive mode`
    await held`reindex index hot_pkey`
    try {
      // Only the per-database groups of interest run in this round.
      const instanceId = await collectRound(
        Object.fromEntries(
          metricGroups.map((g) => [g.name, ['tables', 'indexes'].includes(g.name) ? 300 : 0]),
        ),
      )
      const snapshots = await store<
        { group_name: string; status: string; row_count: number; error: string }[]
      >`
        select group_name, status, row_count, error from sn_stat_snapshot
         where instance_id = ${instanceId} order by group_name`
      expect(snapshots).toEqual([
        { group_name: 'indexes', status: 'ok', row_count: group('indexes').rowLimit, error: null },
        { group_name: 'tables', status: 'ok', row_count: group('tables').rowLimit, error: null },
      ])
      // The locked table is kept (it ranks first by pages) with its statistics, its sizes skipped.
      const skipped = await store<{ relname: string; total_bytes: string | null; n_live_tup: string }[]>`
        select relname, total_bytes, n_live_tup from sn_stat_tables where instance_id = ${instanceId} and sizes_skipped`
      expect(skipped).toEqual([{ relname: 'hot', total_bytes: null, n_live_tup: '5000' }])
      // The table nearest to wraparound is kept, however small and idle.
      const [ancient] = await store<{ n: number }[]>`
        select count(*)::int as n from sn_stat_tables where instance_id = ${instanceId} and relname = 'ancient'`
      expect(ancient?.n).toBe(1)
      const [sized] = await store<{ n: number }[]>`
        select count(*)::int as n from sn_stat_tables
         where instance_id = ${instanceId} and not sizes_skipped and total_bytes is not null`
      expect(sized?.n).toBe((group('tables').rowLimit as number) - 1)
      const skippedIndexes = await store<{ indexrelname: string; size_bytes: string | null }[]>`
        select indexrelname, size_bytes from sn_stat_indexes where instance_id = ${instanceId} and sizes_skipped`
      expect(skippedIndexes).toEqual([{ indexrelname: 'hot_pkey', size_bytes: null }])
    } finally {
      await held`rollback`
      held.release()
    }
  }, 120_000)

  it('builds table and index rows that equal the pg_stat and pg_statio views', async () => {
    type Counters = { seq_scan: string; idx_scan: string; n_tup_upd: string }
    const counters = async () =>
      (
        await monitored<Counters[]>`
          select seq_scan::text, idx_scan::text, n_tup_upd::text from pg_stat_user_tables where relname = 'hot'`
      )[0] as Counters
    const before = await counters()
    await monitored`select count(*) from hot where id = 7`
    await monitored`select count(*) from hot where payload = 'y'`
    await monitored`update hot set payload = 'z' where id < 10`
    // Statistics reach the shared counters some time after the session goes idle: wait until they
    // show all three statements. One transaction then reads one consistent statistics snapshot
    // for both queries.
    const scans = (c: Counters) => Number(c.seq_scan) + Number(c.idx_scan)
    await until('the three statements in pg_stat_user_tables', async () => {
      const now = await counters()
      // Each statement scans the table at least once, whichever plan it took.
      return scans(now) >= scans(before) + 3 && Number(now.n_tup_upd) > Number(before.n_tup_upd)
    })
    const capabilities = await probeCapabilities(monitored)
    const plan = (name: string) => planGroup(group(name), capabilities) as PlannedQuery
    await monitored.begin(async (tx) => {
      const tables = await tx.unsafe(plan('tables').sql, [String(tableCount + 10)])
      const ours = tables.find((r) => r.relname === 'hot')
      const [view] = await tx`
        select s.*, io.heap_blks_read, io.heap_blks_hit, io.idx_blks_read, io.idx_blks_hit,
               io.toast_blks_read, io.toast_blks_hit
          from pg_stat_user_tables s join pg_statio_user_tables io using (relid) where s.relname = 'hot'`
      for (const column of group('tables').columns) {
        if (column.name in (view as object))
          expect({ column: column.name, value: ours?.[column.name] }).toEqual({
            column: column.name,
            value: view?.[column.name],
          })
      }
      expect(Number(ours?.idx_scan)).toBeGreaterThan(0)
      expect(Number(ours?.seq_scan)).toBeGreaterThan(0)
      expect(tables).toHaveLength(tableCount + 2)
      const indexes = await tx.unsafe(plan('indexes').sql, [String(tableCount + 10)])
      const index = indexes.find((r) => r.indexrelname === 'hot_pkey')
      const [indexView] = await tx`
        select s.idx_scan, s.idx_tup_read, s.idx_tup_fetch, io.idx_blks_read, io.idx_blks_hit
          from pg_stat_user_indexes s join pg_statio_user_indexes io using (indexrelid)
         where s.indexrelname = 'hot_pkey'`
      expect(index).toMatchObject(indexView as object)
      expect(indexes).toHaveLength(tableCount + 1)
    })
  }, 120_000)
})

/** Queryids of the rows as the server wrote them (bigints: JSON.parse would round them). */
const idsOf = (rows: string) => [...rows.matchAll(/"queryid": ?(-?\d+)/g)].map((m) => m[1] as string)

describe('statements ranked by change', () => {
  it('keeps a statement that became hot since the previous run, however small its totals', async () => {
    const sql = postgres(await createTestDatabase(inject('pgUrl')), { max: 1, onnotice: () => {} })
    try {
      await sql`create extension if not exists pg_stat_statements`
      const capabilities = await probeCapabilities(sql)
      const statements = group('statements')
      const plan = planGroup(statements, capabilities) as PlannedQuery
      // Ten old statements (distinct by their number of columns), each with more calls and more
      // time than the new one will ever have; pipelined on one connection.
      const old = Array.from({ length: 10 }, (_, i) =>
        `select count(*)${', 1'.repeat(i + 1)} from generate_series(1, $1::int)`.trim(),
      )
      await Promise.all(
        old.flatMap((text) =>
          Array.from({ length: 400 }, (_, n) => sql.unsafe(text, [n === 0 ? 200_000 : 10])),
        ),
      )
      const hot = 'select $1::int + 12345 as pga_hot_statement'
      const limit = 10
      const run = (previous?: string) =>
        fetchRows(sql, plan, [String(limit), ...queryParams(statements, plan, previous).slice(1)])
      const first = await run()
      expect(first.counters).toBeDefined()
      await Promise.all(Array.from({ length: 300 }, (_, n) => sql.unsafe(hot, [n])))
      // Stored texts have their constants replaced by parameters: find them by shape, in this database.
      const queryids = async (pattern: string) =>
        (
          await sql<{ queryid: string }[]>`
            select queryid::text from pg_stat_statements
             where query like ${pattern} and dbid = (select oid from pg_database where datname = current_database())`
        ).map((r) => r.queryid)
      const [hotId] = await queryids('%pga_hot_statement')
      const oldIds = await queryids('select count(*),%from generate_series(%')
      expect(oldIds).toHaveLength(10)
      // Ranked by change since the first run: the hot statement comes before every idle old one
      // (which may still fill the rest of the cut when few statements changed).
      const second = idsOf((await run(first.counters)).rows)
      expect(second).toContain(hotId)
      const after = second.slice(second.indexOf(hotId as string) + 1)
      expect(oldIds.filter((id) => second.includes(id) && !after.includes(id))).toEqual([])
      // Ranked by totals (no previous run) the old statements fill the cut and it is left out.
      expect(idsOf((await run()).rows)).not.toContain(hotId)
    } finally {
      await sql.end()
    }
  }, 120_000)
})

describe('monitoring sessions', () => {
  it('run without JIT and under the timeouts they were opened with', async () => {
    const url = new URL(monitoredUrl)
    const sql = openInstanceConnection(
      {
        host: url.hostname,
        port: Number(url.port),
        database: url.pathname.slice(1),
        username: url.username,
        sslmode: 'disable',
      },
      {
        connectTimeoutMs: 10_000,
        statementTimeoutMs: 7_000,
        lockTimeoutMs: 1500,
        idleTimeoutSeconds: 0,
        applicationName: 'pganalytics session test',
        hostPolicy: new HostPolicy({ allow: [], deny: [] }),
      },
    )
    try {
      // With thousands of relations the catalog queries' cost estimates pass jit_above_cost, and
      // compiling them cost more than running them (see monitoringSessionSettings).
      const [row] = await sql<{ jit: string; statement_timeout: string; lock_timeout: string }[]>`
        select current_setting('jit') as jit, current_setting('statement_timeout') as statement_timeout,
               current_setting('lock_timeout') as lock_timeout`
      expect(row).toEqual({ jit: 'off', statement_timeout: '7s', lock_timeout: '1500ms' })
    } finally {
      await sql.end()
    }
  })
})
