// The collection pipeline against real servers: an instance added through the API with a
// pg_monitor-only login is collected right away for every group, snapshots land in their
// partitions with snap_id from RETURNING, settings are stored only when they change, query texts
// once per queryid; a real primary + streaming standby with a real archive_command gives
// replication, WAL receiver, slot and archiver rows.
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { metricGroups } from '../../src/collector/catalog/index.ts'
import { type ReplicationRig, startReplicationRig } from '../harness/replication-rig.ts'
import { startTestApp, type TestApp } from '../support/app.ts'

const token = 'collector-test-admin-token-0123456789'
const password = 'Mon1tor-pass-phrase'
const role = `pga_col_${Math.random().toString(36).slice(2, 8)}`
let t: TestApp
let rig: ReplicationRig
let admin: postgres.Sql

beforeAll(async () => {
  ;[t, rig] = await Promise.all([
    startTestApp({ PGA_ADMIN_TOKEN: token, PGA_COLLECTOR_ENABLED: 'false' }),
    startReplicationRig(),
  ])
  admin = postgres(rig.primaryUrl, { max: 1, onnotice: () => {} })
  await admin`create extension if not exists pg_stat_statements`
  await admin.unsafe(`create role ${role} login password '${password}' in role pg_monitor`)
  await admin`create database appdb`
  await admin`create database scratch_1`
  const app = postgres({ ...connection(rig.primaryUrl), database: 'appdb', max: 1, onnotice: () => {} })
  await app`create table orders (id bigint primary key, note text)`
  await app`create index orders_note on orders (note)`
  await app`insert into orders select g, 'n' || g from generate_series(1, 1000) g`
  await app.end()
  await admin`select pg_switch_wal()`
}, 120_000)

afterAll(async () => {
  await admin?.end()
  await t?.close()
  await rig?.stop()
})

function connection(url: string) {
  const u = new URL(url)
  return { host: u.hostname, port: Number(u.port), username: u.username }
}

const call = async (method: string, path: string, body?: unknown) => {
  const res = await t.app.request(path, {
    method,
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  return { status: res.status, body: await res.json() }
}

async function addInstance(name: string, url: string, extra: Record<string, unknown> = {}) {
  const { port } = connection(url)
  const res = await call('POST', '/api/v1/instances', {
    name,
    host: '127.0.0.1',
    port,
    username: role,
    password,
    sslmode: 'disable',
    ...extra,
  })
  expect(res.status, JSON.stringify(res.body)).toBe(201)
  return res.body.id as string
}

/** Runs the scheduler until every listed instance has no group due, or fails after timeoutMs. */
async function collectOnce(ids: string[], timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs
  const store = t.deps.db.sql
  for (;;) {
    const [row] = await store<{ pending: number }[]>`
      select count(*)::int as pending from pga_instances i cross join unnest(${metricGroups.map((g) => g.name)}::text[]) g
       where i.id = any(${ids}::uuid[])
         and not exists (select 1 from sn_stat_snapshot s where s.instance_id = i.id and s.group_name = g)`
    if (row?.pending === 0) return
    if (Date.now() > deadline) {
      const seen =
        await store`select group_name, status, error from sn_stat_snapshot where instance_id = any(${ids}::uuid[])`
      throw new Error(
        `${row?.pending} group collections still missing; seen ${JSON.stringify(seen)}; log ${JSON.stringify(t.logs.lines?.slice(-20) ?? [])}`,
      )
    }
    await scheduler().tick()
    await new Promise((r) => setTimeout(r, 200))
  }
}

const scheduler = () =>
  (t.deps.collector as unknown as { scheduler: { tick(now?: number): Promise<void> } }).scheduler

describe('collector pipeline', () => {
  let primaryId: string
  let standbyId: string

  it('collects every group of a new instance at once, with a pg_monitor-only login', async () => {
    await t.deps.collector.maintainPartitions()
    primaryId = await addInstance('primary', rig.primaryUrl, { excludeDatabases: ['scratch_*'] })
    standbyId = await addInstance('standby', rig.standbyUrl)
    await collectOnce([primaryId, standbyId])
    const store = t.deps.db.sql
    const statuses = await store<{ group_name: string; status: string; error: string | null }[]>`
      select group_name, status, error from sn_stat_snapshot where instance_id = ${primaryId} order by group_name`
    const failed = statuses.filter((s) => s.status !== 'ok')
    // wal_receiver has no row on a primary but still succeeds; nothing fails on PostgreSQL ≥ 16.
    expect(failed.map((f) => `${f.group_name}: ${f.error}`)).toEqual(
      inject('pgVersion') >= 16 ? [] : ['io: pg_stat_io does not exist before PostgreSQL 16'],
    )
    // Explicit snap_ids, one per snapshot, rows pointing at their own snapshot.
    const [orphans] = await store<{ n: number }[]>`
      select count(*)::int as n from sn_stat_database d
       where d.instance_id = ${primaryId}
         and not exists (select 1 from sn_stat_snapshot s where s.snap_id = d.snap_id and s.group_name = 'database')`
    expect(orphans?.n).toBe(0)
  })

  it('per-database groups visit the included databases only', async () => {
    const rows = await t.deps.db.sql<{ datname: string; relname: string; n_live_tup: string }[]>`
      select distinct datname, relname from sn_stat_tables where instance_id = ${primaryId} order by 1, 2`
    expect(rows.map((r) => `${r.datname}.${r.relname}`)).toEqual(['appdb.orders'])
    const databases = await t.deps.db.sql<{ datname: string }[]>`
      select distinct datname from sn_stat_snapshot where instance_id = ${primaryId} and group_name = 'tables' order by 1`
    expect(databases.map((d) => d.datname)).toEqual(['appdb', 'postgres'])
    const [index] = await t.deps.db.sql<{ unused: boolean; size_bytes: string }[]>`
      select unused, size_bytes from sn_stat_indexes where instance_id = ${primaryId} and indexrelname = 'orders_note'`
    expect(index).toMatchObject({ unused: true })
    expect(Number(index?.size_bytes)).toBeGreaterThan(8192)
  })

  it('records replication on both sides, the slot and archiving', async () => {
    const store = t.deps.db.sql
    const [sender] = await store<{ state: string; replay_lag_bytes: string; client_addr: string }[]>`
      select state, replay_lag_bytes, client_addr::text from sn_stat_replication where instance_id = ${primaryId}`
    expect(sender).toMatchObject({ state: 'streaming', client_addr: '127.0.0.1/32' })
    expect(Number(sender?.replay_lag_bytes)).toBeGreaterThanOrEqual(0)
    const [receiver] = await store<{ status: string; sender_port: number }[]>`
      select status, sender_port from sn_stat_wal_receiver where instance_id = ${standbyId}`
    expect(receiver).toMatchObject({ status: 'streaming', sender_port: rig.primaryPort })
    const [slot] = await store<{ slot_name: string; active: boolean }[]>`
      select slot_name, active from sn_replication_slots where instance_id = ${primaryId}`
    expect(slot).toMatchObject({ slot_name: 'pga_standby_slot', active: true })
    const [archiver] = await store<{ archive_mode: string; archived_count: string }[]>`
      select archive_mode, archived_count from sn_stat_archiver where instance_id = ${primaryId}`
    expect(archiver?.archive_mode).toBe('on')
    expect(Number(archiver?.archived_count)).toBeGreaterThan(0)
  })

  it('stores settings once, then only what changed, with the previous value', async () => {
    const store = t.deps.db.sql
    const [first] = await store<{ n: number }[]>`
      select count(*)::int as n from sn_settings_changes where instance_id = ${primaryId}`
    expect(first?.n).toBeGreaterThan(200)
    await admin`alter system set work_mem = '12MB'`
    await admin`select pg_reload_conf()`
    // Force the settings group due now, then collect.
    await store`delete from sn_stat_snapshot where instance_id = ${primaryId} and group_name = 'settings'`
    const worker = (
      scheduler() as unknown as { owned: Map<string, { worker: { nextDue: Map<string, number> } }> }
    ).owned.get(primaryId)?.worker
    worker?.nextDue.set('settings', 0)
    await collectOnce([primaryId])
    const changes = await store<{ name: string; setting: string; previous_setting: string }[]>`
      select name, setting, previous_setting from sn_settings_changes
       where instance_id = ${primaryId} and snap_id = (select max(snap_id) from sn_stat_snapshot
         where instance_id = ${primaryId} and group_name = 'settings')`
    expect(changes).toEqual([{ name: 'work_mem', setting: '12288', previous_setting: '4096' }])
  })

  it('keeps each statement text once per instance', async () => {
    const store = t.deps.db.sql
    const [counts] = await store<{ texts: number; distinct_ids: number }[]>`
      select (select count(*)::int from sn_statement_texts where instance_id = ${primaryId}) as texts,
             (select count(distinct queryid)::int from sn_stat_statements where instance_id = ${primaryId}) as distinct_ids`
    expect(counts?.texts).toBeGreaterThan(0)
    expect(counts?.texts).toBe(counts?.distinct_ids)
  })
})
