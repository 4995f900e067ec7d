// The depth groups against the situations they exist to show, created for real on a PostgreSQL
// cluster of this file's own (wal_level=logical for a publication and subscription between two of
// its databases, max_prepared_transactions for a prepared transaction, a small
// logical_decoding_work_mem so a large transaction spills): an old snapshot and a prepared
// transaction holding the xmin horizon, a slot's catalog_xmin, tables of different freeze ages,
// sequences near their limit, a subscription synchronizing, a checkpoint. Each group is read as
// the catalog plans it, as superuser and as a login with only pg_monitor (catalog.test.ts checks
// the column shapes on every server, PGlite 18 included).
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { findGroup, planGroup } from '../../src/collector/catalog/index.ts'
import { probeCapabilities } from '../../src/instances/probe.ts'
import { startPostgres, type TestPostgres } from '../harness/postgres.ts'
import { figure } from '../support/figures.ts'
import { until as pollUntil } from '../support/until.ts'

let pg: TestPostgres
const clients: postgres.Sql[] = []
const monitorRole = 'pga_depth_monitor'
const plainRole = 'pga_depth_plain'

/** A one-connection client to a database of the cluster, as a given login. */
function connect(database: string, user = 'postgres'): postgres.Sql {
  const url = new URL(pg.url)
  url.pathname = `/${database}`
  url.username = user
  const sql = postgres(url.toString(), { max: 1, onnotice: () => {} })
  clients.push(sql)
  return sql
}

type Row = Record<string, unknown>

/** Runs a group exactly as the collector would on this connection; `limit` overrides its cap. */
async function collect(sql: postgres.Sql, groupName: string, limit?: number): Promise<Row[]> {
  const group = findGroup(groupName)
  if (!group) throw new Error(`no group ${groupName}`)
  const plan = planGroup(group, await probeCapabilities(sql))
  if ('unavailable' in plan) throw new Error(`${groupName} unavailable: ${plan.unavailable}`)
  const rows = await sql.unsafe(plan.sql, group.rowLimit === undefined ? [] : [limit ?? group.rowLimit])
  expect(rows.columns.map((c) => c.name)).toEqual(group.columns.map((c) => c.name))
  return [...rows] as Row[]
}

/** The shared poll, with this file's deadline. */
const until = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000) =>
  pollUntil(what, probe, { timeoutMs, intervalMs: 250 })

let admin: postgres.Sql
let app: postgres.Sql
let appAsMonitor: postgres.Sql
let monitor: postgres.Sql

beforeAll(async () => {
  pg = await startPostgres([
    'wal_level=logical',
    'max_prepared_transactions=5',
    'logical_decoding_work_mem=64kB',
  ])
  admin = connect('postgres')
  await admin.unsafe(`create role ${monitorRole} login in role pg_monitor`)
  await admin.unsafe(`create role ${plainRole} login`)
  for (const name of ['app', 'pub', 'sub']) await admin.unsafe(`create database ${name}`)
  app = connect('app')
  appAsMonitor = connect('app', monitorRole)
  monitor = connect('postgres', monitorRole)
}, 120_000)

afterAll(async () => {
  for (const sql of clients.reverse()) await sql.end({ timeout: 1 }).catch(() => {})
  await pg?.stop()
})

describe('table_ages', () => {
  it('ranks tables by relfrozenxid age, names TOAST tables by their table, and keeps the cap', async () => {
    await app`create table freeze_old (id int, body text)`
    // Transactions consumed after freeze_old was created make it older than freeze_new.
    for (let i = 0; i < 20; i++) await app`select txid_current()`
    await app`create table freeze_new (id int)`
    await app`vacuum (freeze) freeze_new`
    for (const sql of [app, appAsMonitor]) {
      const all = await collect(sql, 'table_ages', 10_000)
      const of = (name: string) => all.find((r) => r.relname === name)
      const [old, fresh] = [of('freeze_old'), of('freeze_new')]
      expect(old).toMatchObject({ datname: 'app', schemaname: 'public', relkind: 'r', temporary: false })
      expect(Number(old?.frozenxid_age)).toBeGreaterThanOrEqual(20)
      expect(Number(fresh?.frozenxid_age)).toBeLessThan(Number(old?.frozenxid_age))
      expect(all.indexOf(old as Row)).toBeLessThan(all.indexOf(fresh as Row))
      const ages = all.map((r) => Math.max(Number(r.frozenxid_age), Number(r.minmxid_age)))
      expect(ages).toEqual([...ages].sort((a, b) => b - a))
      const toast = all.find((r) => r.toast_of === 'freeze_old')
      expect(toast).toMatchObject({ schemaname: 'pg_toast', relkind: 't' })
      expect(old?.freeze_max_age).toBe('200000000')
      // The catalog's cap holds: a database has more than 100 tables counting the catalogs.
      expect(all.length).toBeGreaterThan(100)
      expect(await collect(sql, 'table_ages')).toHaveLength(100)
    }
    // A storage parameter on the table wins over the setting, and its TOAST table inherits it.
    await app`alter table freeze_old set (autovacuum_freeze_max_age = 150000000)`
    const [old] = (await collect(app, 'table_ages', 10_000)).filter((r) => r.relname === 'freeze_old')
    expect(old?.freeze_max_age).toBe('150000000')
    const [toast] = (await collect(app, 'table_ages', 10_000)).filter((r) => r.toast_of === 'freeze_old')
    expect(toast?.freeze_max_age).toBe('150000000')
  })
})

describe('sequences', () => {
  it('shows how much of its range each sequence used, limited by the owning column type', async () => {
    await app`create sequence near_max as integer start 2147483000`
    await app`select nextval('near_max')`
    // A bigint sequence feeding an integer column: the column fails first, at 2^31 - 1.
    await app`create table legacy_orders (id integer)`
    await app`create sequence legacy_orders_seq owned by legacy_orders.id`
    await app`select setval('legacy_orders_seq', 2000000000)`
    await app`create table countdown (id smallint generated always as identity (increment by -1 start with -10))`
    await app`insert into countdown default values`
    await app`create sequence never_used`
    const rows = await collect(app, 'sequences')
    expect(rows.map((r) => r.sequence_name)).toEqual(['near_max', 'legacy_orders_seq', 'countdown_id_seq'])
    expect(rows[0]).toMatchObject({
      datname: 'app',
      data_type: 'integer',
      owned_by: null,
      last_value: '2147483000',
      limit_value: '2147483647',
      remaining: '647',
    })
    expect(rows[0]?.used_fraction).toBeGreaterThan(0.9999)
    expect(rows[1]).toMatchObject({
      data_type: 'bigint',
      owned_by: 'legacy_orders.id',
      column_type: 'integer',
      limit_value: '2147483647',
      remaining: '147483647',
    })
    expect(rows[1]?.used_fraction).toBeCloseTo(0.9313, 3)
    // Descending identity on a smallint column: its limit is the smallint minimum.
    expect(rows[2]).toMatchObject({
      owned_by: 'countdown.id',
      column_type: 'smallint',
      increment_by: '-1',
      last_value: '-10',
      limit_value: '-32768',
      remaining: '32758',
    })
    // pg_monitor does not give the right to read a sequence's position: only granted ones show.
    expect(await collect(appAsMonitor, 'sequences')).toEqual([])
    await app.unsafe(`grant select on sequence near_max to ${monitorRole}`)
    expect((await collect(appAsMonitor, 'sequences')).map((r) => r.sequence_name)).toEqual(['near_max'])
  })
})

describe('index_hygiene', () => {
  it('finds the invalid index a failed CREATE INDEX CONCURRENTLY left, duplicates and unused indexes', async () => {
    await app`create table accounts (id int primary key, email text, region text)`
    await app`insert into accounts select g, 'u' || (g % 500), 'r' || (g % 7) from generate_series(1, 2000) g`
    await app`create index accounts_email on accounts (email)`
    await app`create index accounts_email_again on accounts (email)`
    await app`create index accounts_id_plain on accounts (id)`
    await app`create index accounts_region on accounts (region)`
    await expect(
      app`create unique index concurrently accounts_email_unique on accounts (email)`,
    ).rejects.toThrow(/could not create unique index/)
    await app`analyze accounts`
    // One scan of accounts_region: used, so not reported as unused.
    await app`set enable_seqscan = off`
    await app`select count(*) from accounts where region = 'r3'`
    await app`reset enable_seqscan`
    await until('the index scan to be counted', async () => {
      const [row] = await app<{ n: string }[]>`
        select idx_scan::text as n from pg_stat_user_indexes where indexrelname = 'accounts_region'`
      return row?.n !== '0' ? true : undefined
    })
    for (const sql of [app, appAsMonitor]) {
      const rows = (await collect(sql, 'index_hygiene')).filter((r) => r.relname === 'accounts')
      const found = rows.map((r) => `${r.indexrelname}:${r.problem}:${r.duplicate_of ?? ''}`).sort()
      expect(found).toEqual([
        'accounts_email:unused:',
        'accounts_email_again:duplicate:accounts_email',
        'accounts_email_again:unused:',
        'accounts_email_unique:invalid:',
        // A non-unique index on the primary key's column repeats it.
        'accounts_id_plain:duplicate:accounts_pkey',
        'accounts_id_plain:unused:',
      ])
      const email = rows.find((r) => r.indexrelname === 'accounts_email')
      expect(Number(email?.size_bytes)).toBeGreaterThan(8192)
      expect(email?.stats_age_seconds).toBeNull()
    }
    await app`select pg_stat_reset()`
    const [afterReset] = await collect(app, 'index_hygiene')
    expect(figure(afterReset?.stats_age_seconds, 'stats_age_seconds')).toBeGreaterThanOrEqual(0)
  })
})

describe('maintenance_progress', () => {
  it('shows a COPY, a CREATE INDEX CONCURRENTLY waiting for a writer, and a base backup as they run', async () => {
    await app`create table loads (id int, note text)`
    // COPY FROM STDIN stays in progress until the client ends the stream.
    const loader = connect('app')
    const copy = await loader`copy loads from stdin`.writable()
    await new Promise<void>((resolve, reject) =>
      copy.write('1\tfirst\n2\tsecond\n', (error) => (error ? reject(error) : resolve())),
    )
    // A writer's open transaction makes CREATE INDEX CONCURRENTLY wait before building.
    const writer = connect('app')
    await writer.unsafe('begin')
    await writer`insert into accounts values (100000, 'w', 'w')`
    const indexer = connect('app')
    const building = indexer`create index concurrently accounts_late on accounts (region, email)`.then(
      () => 'done',
    )
    const runs = await until('the COPY and the CREATE INDEX to show', async () => {
      const rows = await collect(appAsMonitor, 'maintenance_progress')
      const copyRow = rows.find((r) => String(r.command).startsWith('COPY FROM'))
      const indexRow = rows.find((r) => r.command === 'CREATE INDEX CONCURRENTLY')
      // The index build passes 'initializing' before it waits for the writer.
      const waiting = indexRow?.phase === 'waiting for writers before build'
      return copyRow && Number(copyRow.bytes_done) > 0 && waiting ? { copyRow, indexRow } : undefined
    })
    expect(runs.copyRow).toMatchObject({
      command: 'COPY FROM (PIPE)',
      datname: 'app',
      relation: 'loads',
      phase: null,
    })
    expect(runs.indexRow).toMatchObject({
      datname: 'app',
      relation: 'accounts',
      phase: 'waiting for writers before build',
    })
    await new Promise<void>((resolve) => copy.end(resolve))
    await writer.unsafe('commit')
    expect(await building).toBe('done')
    const backupDir = mkdtempSync(join(tmpdir(), 'pga-depth-backup-'))
    // The slowest rate pg_basebackup allows keeps it streaming long enough to be seen.
    const backup = spawn(
      join(pg.binDir, 'pg_basebackup'),
      ['-d', pg.url, '-D', backupDir, '-X', 'none', '-c', 'fast', '--max-rate=32k', '--no-sync'],
      { stdio: 'ignore' },
    )
    try {
      const row = await until('the base backup to show', async () =>
        (await collect(monitor, 'maintenance_progress')).find(
          (r) => r.command === 'BASE_BACKUP' && Number(r.bytes_done) > 0,
        ),
      )
      expect(row).toMatchObject({ datname: null, relation: null, phase: 'streaming database files' })
      expect(Number(row?.bytes_total)).toBeGreaterThan(Number(row?.bytes_done))
    } finally {
      backup.kill('SIGTERM')
      await new Promise((resolve) => backup.once('exit', resolve))
      rmSync(backupDir, { recursive: true, force: true })
    }
  }, 120_000)
})

describe('functions', () => {
  it('counts calls and time of user functions once track_functions is on', async () => {
    await app`create function slow_double(x int) returns int language plpgsql as $$
                begin perform pg_sleep(0.01); return x * 2; end $$`
    await app`create function slow_double(x text) returns text language plpgsql as $$
                begin return x || x; end $$`
    expect(await collect(app, 'functions')).toEqual([])
    await app`set track_functions = 'pl'`
    for (let i = 0; i < 5; i++) await app`select slow_double(${i}::int)`
    await app`select slow_double('a'::text)`
    await app`select pg_stat_force_next_flush()`
    await app`select 1`
    for (const sql of [app, appAsMonitor]) {
      const rows = await until('the calls to be counted', async () => {
        const seen = await collect(sql, 'functions')
        return seen.length === 2 ? seen : undefined
      })
      expect(rows.map((r) => [r.funcname, r.calls])).toEqual([
        ['slow_double(x integer)', '5'],
        ['slow_double(x text)', '1'],
      ])
      expect(Number(rows[0]?.total_time)).toBeGreaterThanOrEqual(50)
      expect(rows[0]).toMatchObject({ datname: 'app', schemaname: 'public' })
    }
    await app`reset track_functions`
  })
})

describe('logical replication', () => {
  let pub: postgres.Sql
  let sub: postgres.Sql

  beforeAll(async () => {
    pub = connect('pub')
    sub = connect('sub')
    await pub`create table items (id int primary key, body text)`
    await pub`insert into items select g, 'x' from generate_series(1, 100) g`
    await pub`create publication items_pub for table items`
    // Within one cluster the slot is created beforehand: CREATE SUBSCRIPTION would wait on itself.
    await pub`select pg_create_logical_replication_slot('items_sub', 'pgoutput')`
    await sub`create table items (id int primary key, body text)`
    await sub.unsafe(
      `create subscription items_sub connection 'host=127.0.0.1 port=${pg.port} dbname=pub user=postgres'
       publication items_pub with (create_slot = false, slot_name = 'items_sub')`,
    )
  }, 60_000)

  it('shows the subscription, its tables reaching ready, and the sender’s reply time', async () => {
    const subAsMonitor = connect('sub', monitorRole)
    const ready = await until('the subscribed table to be ready', async () => {
      const rows = await collect(subAsMonitor, 'subscription_tables')
      return rows.some((r) => r.state === 'ready') ? rows : undefined
    })
    expect(ready).toEqual([{ datname: 'sub', subname: 'items_sub', state: 'ready', tables: 1 }])
    expect(await collect(connect('pub', monitorRole), 'subscription_tables')).toEqual([])
    for (const sql of [admin, monitor]) {
      const [subscription] = await collect(sql, 'subscriptions')
      expect(subscription).toMatchObject({
        subname: 'items_sub',
        datname: 'sub',
        enabled: true,
        sync_workers: 0,
        apply_error_count: '0',
        sync_error_count: '0',
      })
      expect(subscription?.pid).toEqual(expect.any(Number))
      expect(subscription?.received_lsn).toEqual(expect.stringMatching(/^[0-9A-F]+\/[0-9A-F]+$/))
      expect(figure(subscription?.receipt_age_seconds, 'receipt_age_seconds')).toBeGreaterThanOrEqual(0)
    }
    // The apply worker's WAL sender on the publisher reports reply_time (PostgreSQL 12+).
    const sender = await until('the WAL sender to have replied', async () => {
      const rows = await collect(monitor, 'replication')
      return rows.find((r) => r.application_name === 'items_sub' && r.reply_time !== null)
    })
    expect(sender?.reply_time).toBeInstanceOf(Date)
  })

  it('counts a transaction larger than logical_decoding_work_mem as spilled', async () => {
    await pub`insert into items select g, repeat('y', 200) from generate_series(101, 5100) g`
    const slot = await until('the spill and the decoded transaction to be counted', async () => {
      const [row] = (await collect(monitor, 'replication_slot_stats')).filter(
        (r) => r.slot_name === 'items_sub',
      )
      return Number(row?.spill_txns) > 0 && Number(row?.total_txns) > 0 ? row : undefined
    })
    expect(Number(slot.spill_bytes)).toBeGreaterThan(64 * 1024)
    expect(Number(slot.total_txns)).toBeGreaterThan(0)
    await until('the rows to arrive', async () => {
      const [row] = await sub<{ n: number }[]>`select count(*)::int as n from items`
      return row?.n === 5100 ? true : undefined
    })
  })
})

// Runs after the logical replication tests: the subscription's slot is one of the holders.
describe('xmin_horizon', () => {
  it('names the old snapshot, the prepared transaction and the logical slot holding the horizon', async () => {
    const holder = connect('app')
    await holder.unsafe('begin isolation level repeatable read')
    const [{ pid, xid }] =
      (await holder`select pg_backend_pid() as pid, txid_current()::text as xid`) as unknown as [
        { pid: number; xid: string },
      ]
    const preparer = connect('app')
    await preparer.unsafe('begin')
    await preparer`create table prepared_here (id int)`
    await preparer.unsafe(`prepare transaction 'pga_depth_prepared'`)
    try {
      // Transactions after theirs give the holders a measurable age.
      for (let i = 0; i < 10; i++) await admin`select txid_current()`
      for (const sql of [admin, monitor]) {
        const rows = await collect(sql, 'xmin_horizon')
        const backend = rows.find((r) => r.holder_type === 'backend' && r.holder === String(pid))
        expect(backend).toMatchObject({
          datname: 'app',
          usename: 'postgres',
          backend_type: 'client backend',
          state: 'idle in transaction',
          held_xid: xid,
        })
        expect(Number(backend?.xid_age)).toBeGreaterThanOrEqual(10)
        expect(Number(backend?.horizon_age)).toBe(
          Math.max(Number(backend?.xmin_age), Number(backend?.xid_age)),
        )
        expect(Number(backend?.xact_age_seconds)).toBeGreaterThan(0)
        const prepared = rows.find((r) => r.holder_type === 'prepared_xact')
        expect(prepared).toMatchObject({ holder: 'pga_depth_prepared', datname: 'app', usename: 'postgres' })
        expect(Number(prepared?.xmin_age)).toBeGreaterThanOrEqual(10)
        const slot = rows.find((r) => r.holder_type === 'slot' && r.holder === 'items_sub')
        expect(slot).toMatchObject({ datname: 'pub', state: 'active', held_xmin: null })
        expect(figure(slot?.catalog_xmin_age, 'catalog_xmin_age')).toBeGreaterThanOrEqual(0)
        const ages = rows.map((r) => Number(r.horizon_age))
        expect(ages).toEqual([...ages].sort((a, b) => b - a))
      }
      // Without pg_monitor the snapshots of other users' sessions are hidden, the rest is not.
      const plain = connect('postgres', plainRole)
      const seen = await collect(plain, 'xmin_horizon')
      expect(seen.some((r) => r.holder_type === 'backend' && r.holder === String(pid))).toBe(false)
      expect(seen.some((r) => r.holder_type === 'prepared_xact')).toBe(true)
    } finally {
      await holder.unsafe('rollback')
      await app.unsafe(`rollback prepared 'pga_depth_prepared'`)
    }
    const after = await collect(admin, 'xmin_horizon')
    expect(after.filter((r) => r.holder === String(pid) || r.holder_type === 'prepared_xact')).toEqual([])
  })
})

describe('server internals', () => {
  it('reads the last checkpoint and the WAL written since its redo position', async () => {
    await admin`checkpoint`
    await app`create table wal_maker as select g from generate_series(1, 20000) g`
    for (const sql of [admin, monitor]) {
      const [state] = await collect(sql, 'checkpoint_state')
      expect(state).toMatchObject({ timeline_id: 1, in_recovery: false, replay_pause_state: null })
      expect(state?.redo_wal_file).toMatch(/^[0-9A-F]{24}$/)
      expect(Number(state?.wal_since_redo_bytes)).toBeGreaterThan(100_000)
      expect(figure(state?.checkpoint_age_seconds, 'checkpoint_age_seconds')).toBeGreaterThanOrEqual(0)
      expect(Number(state?.oldest_xid_age)).toBeGreaterThan(0)
    }
    await admin`checkpoint`
    const [after] = await collect(admin, 'checkpoint_state')
    expect(Number(after?.wal_since_redo_bytes)).toBeLessThan(100_000)
  })

  it('reads the SLRU caches and recovery prefetch', async () => {
    for (const sql of [admin, monitor]) {
      const slru = await collect(sql, 'slru')
      const xact = slru.find((r) => r.name === 'Xact' || r.name === 'transaction')
      expect(Number(xact?.blks_hit) + Number(xact?.blks_zeroed)).toBeGreaterThan(0)
      const prefetch = await collect(sql, 'recovery_prefetch')
      expect(prefetch).toHaveLength(1)
      expect(prefetch[0]?.prefetch).toBe('0')
    }
  })
})
