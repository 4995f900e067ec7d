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
import { pause, until } from '../support/until.ts'

const token = 'collector-test-admin-token-0123456789'
const password = 'Mon1tor-pass-phrase'
const role = `pga_col_${Math.random().toString(36).slice(2, 8)}`
let t: TestApp
let rig: ReplicationRig
let admin: postgres.Sql

beforeAll(async () => {
  ;[t, rig] = await Promise.all([
    // Session sampling on (off by default), so session_samples runs end to end.
    startTestApp({
      PGA_ADMIN_TOKEN: token,
      PGA_COLLECTOR_ENABLED: 'false',
      PGA_COLLECTOR_SESSION_SAMPLE_SECONDS: '1',
    }),
    startReplicationRig(),
  ])
  admin = postgres(rig.primaryUrl, { max: 1, onnotice: () => {} })
  await admin`create extension if not exists pg_stat_statements`
  // The groups read through contrib extensions (bloat_approx, buffer_pool, buffer_usage).
  await admin`create extension if not exists pgstattuple`
  await admin`create extension if not exists pg_buffercache`
  await admin.unsafe(`create role ${role} login password '${password}' in role pg_monitor`)
  await admin`create database appdb`
  await admin`create database scratch_1`
  const app = postgres({ ...connection(rig.primaryUrl), database: 'appdb', max: 1, onnotice: () => {} })
  await app`create table orders (id bigint primary key, note text)`
  await app`create index orders_note on orders (note)`
  await app`insert into orders select g, 'n' || g from generate_series(1, 1000) g`
  // Sizes in the bloat groups come from relpages, set by VACUUM and ANALYZE.
  await app`analyze orders`
  await app.end()
  await admin`select pg_switch_wal()`
  // The standby signs the login in only once it has replayed the role (a loaded machine lags).
  await rig.caughtUp()
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

/** Ticks the scheduler until every listed instance has a snapshot of every group. */
async function collectOnce(ids: string[]) {
  const store = t.deps.db.sql
  await until(
    'every group of every instance collected',
    async () => {
      const [row] = await store<{ pending: number }[]>`
        select count(*)::int as pending from pga_instances i cross join unnest(${metricGroups.map((g) => g.name)}::text[]) g
         where i.id = any(${ids}::uuid[])
           and not exists (select 1 from sn_stat_snapshot s where s.instance_id = i.id and s.group_name = g)`
      if (row?.pending === 0) return true
      await scheduler().tick()
      return false
    },
    {
      timeoutMs: 60_000,
      intervalMs: 200,
      explain: async () => {
        const seen =
          await store`select group_name, status, error from sn_stat_snapshot where instance_id = any(${ids}::uuid[])`
        return `seen ${JSON.stringify(seen)}; log ${JSON.stringify(t.logs.lines.slice(-20))}`
      },
    },
  )
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
    // collectOnce waits for the first snapshot of each group; a per-database group writes one per
    // database, so wait (bounded) for the round to reach the second database too.
    await until(
      'tables collected in a second database',
      async () => {
        const [seen] = await t.deps.db.sql<{ n: number }[]>`
          select count(distinct datname)::int as n from sn_stat_snapshot
           where instance_id = ${primaryId} and group_name = 'tables'`
        if ((seen?.n ?? 0) >= 2) return true
        await scheduler().tick()
        return false
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    )
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
    // A byte count the standby replayed behind (null would mean nothing was measured).
    expect(sender?.replay_lag_bytes).toMatch(/^\d+$/)
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
    // Backends apply a reload when they next notice the signal: collect until the change shows.
    let changes: { name: string; setting: string; previous_setting: string }[] = []
    for (let attempt = 0; attempt < 10 && changes.length === 0; attempt++) {
      await collectAgain(primaryId, 'settings')
      changes = await store`
        select name, setting, previous_setting from sn_settings_changes
         where instance_id = ${primaryId} and snap_id = (select max(snap_id) from sn_stat_snapshot
           where instance_id = ${primaryId} and group_name = 'settings')`
    }
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

/** Makes a group due now and waits for its next snapshot of the instance. */
async function collectAgain(id: string, group: string) {
  const store = t.deps.db.sql
  const counts = async () => {
    const [row] = await store<{ ok: number; all: number; at: Date | null }[]>`
      select count(*) filter (where status = 'ok')::int as ok, count(*)::int as all, max(taken_at) as at
        from sn_stat_snapshot where instance_id = ${id} and group_name = ${group}`
    return { ok: row?.ok ?? 0, all: row?.all ?? 0, at: row?.at ?? null }
  }
  const before = await counts()
  // Series keep the last sample per step (1 s at least): the next sample must fall in a later second.
  if (before.at) await pause(Math.floor(before.at.getTime() / 1000) * 1000 + 1000 - Date.now())
  const owned = (
    scheduler() as unknown as { owned: Map<string, { worker: { nextDue: Map<string, number> } }> }
  ).owned
  const due = () => owned.get(id)?.worker.nextDue.set(group, 0)
  due()
  let attempts = before.all
  await until(
    `a new ok ${group} snapshot`,
    async () => {
      const now = await counts()
      if (now.ok > before.ok) return true
      // A failed attempt (a loaded machine) stores no rows: ask again rather than wait an interval.
      if (now.all > attempts) {
        attempts = now.all
        due()
      }
      await scheduler().tick()
      return false
    },
    { timeoutMs: 60_000, intervalMs: 100 },
  )
}

describe('read API', () => {
  let id: string
  let sleeper: postgres.Sql
  let sleeping: Promise<unknown>
  beforeAll(async () => {
    const list = await call('GET', '/api/v1/instances')
    id = list.body.items.find((i: { name: string }) => i.name === 'primary').id
    const app = postgres({ ...connection(rig.primaryUrl), database: 'appdb', max: 1, onnotice: () => {} })
    for (let i = 0; i < 20; i++) await app`select count(*) from orders where note = ${`n${i}`}`
    await app.end()
    await collectAgain(id, 'database')
    await collectAgain(id, 'statements')
    // A session sleeping in appdb, seen by the instance's session sampler (one sample a second):
    // a snapshot drains what it summed.
    sleeper = postgres({ ...connection(rig.primaryUrl), database: 'appdb', max: 1, onnotice: () => {} })
    sleeping = sleeper`select pg_sleep(600)`.catch(() => 'cancelled')
    await until(
      'a session_samples snapshot with the sleeping session',
      async () => {
        await collectAgain(id, 'session_samples')
        const [row] = await t.deps.db.sql`
          select 1 from sn_session_samples where instance_id = ${id} and wait_event = 'PgSleep' limit 1`
        return row !== undefined
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    )
  }, 120_000)
  afterAll(async () => {
    await admin`select pg_cancel_backend(pid) from pg_stat_activity where query = 'select pg_sleep(600)'`
    await sleeping
    await sleeper?.end()
  })

  it('returns raw rows, deltas and per-second rates of counters', async () => {
    // Steps are counted from `from`: on a whole second, as collectAgain spaces the samples, and the
    // same for the three reads (a default `from` moves with the clock, and with it the buckets).
    const from = new Date(Math.floor((Date.now() - 3_600_000) / 1000) * 1000).toISOString()
    const series = (mode: string) =>
      call('GET', `/api/v1/instances/${id}/metrics/database?database=appdb&mode=${mode}&step=1&from=${from}`)
    const raw = await series('raw')
    expect(raw.status).toBe(200)
    expect(raw.body.rows).toHaveLength(2)
    expect(raw.body.columns.find((c: { name: string }) => c.name === 'xact_commit')).toMatchObject({
      kind: 'counter',
    })
    const [first, second] = raw.body.rows
    expect(second.xact_commit).toBeGreaterThan(first.xact_commit)
    const delta = await series('delta')
    expect(delta.body.rows).toHaveLength(2)
    expect(delta.body.rows[0].xact_commit).toBeNull()
    expect(delta.body.rows[1].xact_commit).toBe(second.xact_commit - first.xact_commit)
    const rate = await series('rate')
    const seconds = (Date.parse(second.time) - Date.parse(first.time)) / 1000
    expect(rate.body.rows[1].xact_commit).toBeCloseTo((second.xact_commit - first.xact_commit) / seconds, 3)
    // Gauges are never differenced.
    expect(delta.body.rows[1].numbackends).toBe(second.numbackends)
  })

  it('gives null deltas across a stats reset instead of a negative or bogus value', async () => {
    const app = postgres({ ...connection(rig.primaryUrl), database: 'appdb', max: 1, onnotice: () => {} })
    await app`select pg_stat_reset()`
    await app.end()
    await collectAgain(id, 'database')
    // Steps from a whole second, as collectAgain spaces the samples (see the test above).
    const from = new Date(Math.floor((Date.now() - 3_600_000) / 1000) * 1000).toISOString()
    const delta = await call(
      'GET',
      `/api/v1/instances/${id}/metrics/database?database=appdb&mode=delta&step=1&from=${from}`,
    )
    const last = delta.body.rows.at(-1)
    expect(last.stats_reset).not.toBe(delta.body.rows.at(-2).stats_reset)
    expect(last.xact_commit).toBeNull()
    expect(last.blks_hit).toBeNull()
  })

  it('serves the latest rows, snapshots and top statements with their text', async () => {
    const latest = await call('GET', `/api/v1/instances/${id}/metrics/bgwriter/latest`)
    expect(latest.body.rows).toHaveLength(1)
    expect(typeof latest.body.rows[0].buffers_alloc).toBe('number')
    const snaps = await call('GET', `/api/v1/instances/${id}/snapshots?group=database&status=ok`)
    expect(snaps.body.items.length).toBeGreaterThanOrEqual(3)
    expect(snaps.body.items[0]).toMatchObject({ group: 'database', status: 'ok' })
    const top = await call('GET', `/api/v1/instances/${id}/statements/top?orderBy=calls&limit=50`)
    expect(top.status).toBe(200)
    const ours =
      top.body.items.find((s: { query: string | null }) => s.query?.includes('from orders where note')) ??
      expect.fail(`no statement on orders in ${JSON.stringify(top.body.items)}`)
    expect(ours.queryid).toMatch(/^-?\d+$/)
    expect(ours.calls).toBeGreaterThanOrEqual(20)
    // Query texts may hold sensitive data: reading them is an audit event.
    const [read] = await t.deps.db.sql<{ event: { eventType: string; resourceId: string } }[]>`
      select event from audit_outbox where event->>'eventType' = 'metrics.statements_read' order by id desc limit 1`
    expect(read?.event).toMatchObject({ eventType: 'metrics.statements_read', resourceId: id })
  })

  it('compares two points in time', async () => {
    const to = new Date(Date.now() + 1000).toISOString()
    const from = new Date(Date.now() - 600_000).toISOString()
    const res = await call('GET', `/api/v1/instances/${id}/report?from=${from}&to=${to}`)
    expect(res.status).toBe(200)
    const appdb = res.body.sections.database.find((d: { datname: string }) => d.datname === 'appdb')
    expect(appdb.xact_commit).toBeGreaterThan(0)
    const appdbSize = res.body.sections.database_size.find((d: { datname: string }) => d.datname === 'appdb')
    expect(appdbSize.bytes).toMatchObject({ first: expect.any(Number), last: expect.any(Number) })
    // Sections come busiest first: the ordering is applied, not just named.
    const commits = res.body.sections.database.map((d: { xact_commit: number }) => d.xact_commit)
    expect(commits).toEqual([...commits].sort((a: number, b: number) => b - a))
    const [checkpoint] = res.body.sections.checkpoint_state
    expect(checkpoint.wal_since_redo_bytes).toMatchObject({ last: expect.any(Number) })
    const slruReads = res.body.sections.slru.map(
      (r: { blks_read: number; blks_hit: number }) => r.blks_read + r.blks_hit,
    )
    expect(slruReads.length).toBeGreaterThan(0)
    expect(slruReads).toEqual([...slruReads].sort((a: number, b: number) => b - a))
    // Session samples summed over the window; bloat estimates; the buffer pool.
    const slept = res.body.sections.session_samples.find(
      (r: { wait_event: string; datname: string }) => r.wait_event === 'PgSleep' && r.datname === 'appdb',
    )
    expect(slept).toMatchObject({ state: 'active', backend_type: 'client backend' })
    expect(slept.samples.sum).toBeGreaterThanOrEqual(1)
    expect(slept.samples_taken.sum).toBeGreaterThanOrEqual(slept.samples.sum)
    const orders = res.body.sections.table_bloat.find(
      (r: { datname: string; relname: string }) => r.datname === 'appdb' && r.relname === 'orders',
    )
    expect(orders.size_bytes.last).toBeGreaterThan(0)
    // The pg_monitor-only login may not read the table's statistics: no estimate.
    expect(orders.estimated).toBe(false)
    expect(
      res.body.sections.index_bloat.some((r: { indexrelname: string }) => r.indexrelname === 'orders_pkey'),
    ).toBe(true)
    expect(res.body.sections.buffer_pool[0].buffers_used.last).toBeGreaterThan(0)
    expect(res.body.sections.buffer_usage.length).toBeGreaterThan(0)
    expect(res.body.sections.settingsChanged).toContainEqual(
      expect.objectContaining({ name: 'work_mem', setting: '12288', previousSetting: '4096' }),
    )
  })

  it('refreshes the texts of statements still collected and forgets those unseen for the retention', async () => {
    const store = t.deps.db.sql
    // A statement that runs again before the next collection: only what changed is stored anew.
    const [collected] = await store<{ queryid: string }[]>`
      select queryid::text from sn_statement_texts
       where instance_id = ${id} and query like '%from orders where note%' order by queryid limit 1`
    await store`update sn_statement_texts set last_seen = now() - interval '2 days'
                 where instance_id = ${id} and queryid = ${collected?.queryid ?? ''}::bigint`
    const app = postgres({ ...connection(rig.primaryUrl), database: 'appdb', max: 1, onnotice: () => {} })
    await app`select count(*) from orders where note = ${'again'}`
    await app.end()
    // Two statements never collected again: one unseen for 30 days, one for 2 (retention 14).
    await store`insert into sn_statement_texts (instance_id, queryid, query, last_seen) values
      (${id}, -101, 'select old', now() - interval '30 days'), (${id}, -102, 'select recent', now() - interval '2 days')`
    await collectAgain(id, 'statements')
    const { forgottenTexts } = await t.deps.collector.maintainPartitions()
    expect(forgottenTexts).toBe(1)
    const left = await store<{ queryid: string; age_days: number }[]>`
      select queryid::text, extract(day from now() - last_seen)::int as age_days from sn_statement_texts
       where instance_id = ${id} and queryid = any(${[collected?.queryid ?? '', '-101', '-102']}::bigint[])
`
    expect(left).toHaveLength(2)
    expect(left).toEqual(
      expect.arrayContaining([
        { queryid: '-102', age_days: 2 },
        { queryid: collected?.queryid, age_days: 0 },
      ]),
    )
  })

  it('rejects bad input with a clear problem', async () => {
    const cases: [string, number, string][] = [
      [`/api/v1/instances/${id}/metrics/nope`, 404, 'unknown_metric_group'],
      [`/api/v1/instances/${crypto.randomUUID()}/metrics/database`, 404, 'not_found'],
      [
        `/api/v1/instances/${id}/metrics/database?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z`,
        400,
        'invalid_range',
      ],
      [
        `/api/v1/instances/${id}/metrics/database?from=2025-01-01T00:00:00Z&to=2026-01-01T00:00:00Z`,
        400,
        'range_too_wide',
      ],
      [
        `/api/v1/instances/${id}/metrics/database?from=2026-01-01T00:00:00Z&to=2026-01-21T00:00:00Z&step=1`,
        400,
        'too_many_points',
      ],
      [`/api/v1/instances/${id}/metrics/bgwriter?database=appdb`, 400, 'database_filter_unsupported'],
      [`/api/v1/instances/${id}/metrics/database?from=yesterday`, 400, 'validation_failed'],
      [`/metrics/instances?groups=nope`, 400, 'unknown_metric_group'],
    ]
    for (const [path, status, code] of cases) {
      const res = await call('GET', path)
      expect({ path, status: res.status, code: res.body.code }).toEqual({ path, status, code })
    }
  })

  it('exposes the latest values to Prometheus, accepted by promtool', async () => {
    const res = await t.app.request(
      '/metrics/instances?groups=database,database_size,statements_info,replication,archiver,wal,activity,storage,checkpoint_state,slru,table_ages,session_samples,table_bloat,buffer_pool,buffer_usage',
      {
        headers: { Authorization: `Bearer ${token}` },
      },
    )
    expect(res.status).toBe(200)
    const text = await res.text()
    expect(text).toMatch(
      /^pga_database_xact_commit_total\{instance="primary",instance_id="[^"]+",datname="appdb"\} \d+$/m,
    )
    expect(text).toMatch(/^pga_database_blk_read_time_seconds_total\{/m)
    expect(text).toMatch(
      /^pga_database_size_bytes\{instance="primary",instance_id="[^"]+",datname="appdb"\} \d+$/m,
    )
    expect(text).toMatch(/^pga_statements_info_dealloc_total\{instance="primary",instance_id="[^"]+"\} \d+$/m)
    expect(text).toMatch(/^pga_replication_replay_lag_bytes\{instance="primary",.*application_name=/m)
    expect(text).toMatch(/^pga_archiver_last_archived_time_timestamp_seconds\{instance="primary"/m)
    expect(text).toMatch(
      /^pga_checkpoint_state_wal_since_redo_bytes\{instance="primary",instance_id="[^"]+",.*in_recovery="false"\} \d+$/m,
    )
    expect(text).toMatch(
      /^pga_slru_blks_hit_total\{instance="primary",instance_id="[^"]+",name="Xact"\} \d+$/m,
    )
    expect(text).toMatch(
      /^pga_table_ages_frozenxid_age\{instance="primary",.*datname="appdb",schemaname="pg_catalog",relname="pg_class",relkind="r",temporary="false"\} \d+$/m,
    )
    expect(text).toMatch(
      /^pga_collect_success\{instance="standby",instance_id="[^"]+",group="wal_receiver"\} 1$/m,
    )
    expect(text).toMatch(
      /^pga_session_samples_avg_sessions\{instance="primary",.*datname="appdb",backend_type="client backend",state="active",wait_event_type="Timeout",wait_event="PgSleep",query_id="-?\d+",sampler="pg_stat_activity"\} [\d.]+$/m,
    )
    expect(text).toMatch(
      /^pga_table_bloat_size_bytes\{instance="primary",.*relname="orders",estimated="false"\} \d+$/m,
    )
    expect(text).toMatch(/^pga_buffer_pool_buffers_used\{instance="primary",instance_id="[^"]+"\} \d+$/m)
    expect(text).toMatch(
      /^pga_buffer_usage_buffers\{instance="primary",instance_id="[^"]+",datname="appdb"\} \d+$/m,
    )
    const { spawnSync } = await import('node:child_process')
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' })
    expect(`${check.stdout}${check.stderr}`.trim()).toBe('')
    expect(check.status).toBe(0)
  })
})
