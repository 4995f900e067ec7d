// Session sampling on a PostgreSQL cluster of this file's own, with pg_wait_sampling preloaded
// (created in one database only, so the others show the collector's own sampler): a session
// sleeping in pg_sleep is seen with its state, wait event and query_id (the statements group's
// queryid); the sampler sums samples, bounds its series and stops; pg_wait_sampling's profile is
// read as the difference from the previous snapshot; and a real instance worker stores the sums
// when sampling is on, and nothing (or an explained gap) when it is off.
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
import { SessionSampler } from '../../src/collector/session-sampler.ts'
import { fetchRows } from '../../src/collector/worker-helpers.ts'
import { probeCapabilities } from '../../src/instances/probe.ts'
import { readMigrationsDir } from '../../src/platform/db/migration-files.ts'
import { runMigrations } from '../../src/platform/db/migrations.ts'
import { createLogger, type Logger } from '../../src/platform/log.ts'
import { startPostgres, type TestPostgres } from '../harness/postgres.ts'
import { testInstanceWorker } from '../support/instance-worker.ts'
import { captureLogs } from '../support/logs.ts'
import { until as pollUntil } from '../support/until.ts'

type Row = Record<string, unknown>
const group = findGroup('session_samples') as MetricGroup
const monitorRole = 'pga_sampling_monitor'
let pg: TestPostgres
let store: postgres.Sql
const clients: postgres.Sql[] = []

function connect(database: string, user = 'postgres'): postgres.Sql {
  const url = new URL(pg.url)
  url.pathname = `/${database}`
  url.username = user
  const sql = postgres(url.toString(), { max: 1, onnotice: () => {} })
  clients.push(sql)
  return sql
}

const until = <T>(what: string, probe: () => Promise<T | undefined>) =>
  pollUntil(what, probe, { timeoutMs: 60_000, intervalMs: 200 })

async function plan(sql: postgres.Sql): Promise<PlannedQuery> {
  const planned = planGroup(group, await probeCapabilities(sql))
  if ('unavailable' in planned) throw new Error(planned.unavailable)
  return planned
}

/** One sample, as the sampler runs it. */
async function sampleOnce(sql: postgres.Sql): Promise<Row[]> {
  const planned = await plan(sql)
  expect(planned.sampled).toBe(true)
  const rows = await sql.unsafe(planned.sql, queryParams(group, planned))
  expect(rows.columns.map((c) => c.name)).toEqual(group.columns.map((c) => c.name))
  return [...rows] as Row[]
}

/** A session sleeping in pg_sleep until released; its pid and query_id. */
async function sleeper(database: string, seconds = 120) {
  const sql = connect(database)
  const [{ pid }] = (await sql`select pg_backend_pid() as pid`) as unknown as [{ pid: number }]
  const running = sql.unsafe(`select pg_sleep(${seconds}) /* sampled sleeper */`).catch(() => 'cancelled')
  const admin = connect(database)
  const queryId = await until('the sleeper to be active', async () => {
    const [row] = await admin<{ query_id: string | null; wait_event: string | null }[]>`
      select query_id::text, wait_event from pg_stat_activity where pid = ${pid}`
    return row?.wait_event === 'PgSleep' && row.query_id ? row.query_id : undefined
  })
  return {
    pid,
    queryId,
    async stop() {
      await admin`select pg_cancel_backend(${pid})`
      await running
    },
  }
}

beforeAll(async () => {
  pg = await startPostgres(['shared_preload_libraries=pg_stat_statements,pg_wait_sampling'])
  const admin = connect('postgres')
  await admin.unsafe(`create role ${monitorRole} login in role pg_monitor`)
  for (const name of ['app', 'profiled']) await admin.unsafe(`create database ${name}`)
  await connect('app')`create extension pg_stat_statements`
  await connect('profiled')`create extension pg_wait_sampling`
  const storeUrl = new URL(inject('pgUrl'))
  const storeName = `pga_sampling_store_${Math.random().toString(36).slice(2, 8)}`
  const storeAdmin = postgres(storeUrl.toString(), { max: 1, onnotice: () => {} })
  await storeAdmin.unsafe(`create database ${storeName}`)
  await storeAdmin.end()
  storeUrl.pathname = `/${storeName}`
  store = postgres(storeUrl.toString(), { max: 2, onnotice: () => {} })
  await runMigrations(store, readMigrationsDir(), createLogger({ level: 'error', write: () => {} }))
  await ensurePartitions(store, retentionPlan({ retentionDays: {} } as never), Date.now())
}, 120_000)

afterAll(async () => {
  for (const sql of clients.reverse()) await sql.end({ timeout: 1 }).catch(() => {})
  await store?.end()
  await pg?.stop()
})

describe('one sample of pg_stat_activity', () => {
  it('shows a busy session with its wait event and the query_id statements know it by', async () => {
    // A session waiting for an advisory lock the test holds: released, its statement completes
    // and pg_stat_statements records it (a cancelled one it would not).
    const holder = connect('app')
    await holder`select pg_advisory_lock(4242)`
    const waiter = connect('app')
    const [{ pid }] = (await waiter`select pg_backend_pid() as pid`) as unknown as [{ pid: number }]
    // .then() sends the query now (a postgres.js query runs when awaited).
    const waiting = waiter`select pg_advisory_lock(4242) /* sampled waiter */`.then(() => 'acquired')
    const queryId = await until('the waiter to wait', async () => {
      const [row] = await holder<{ query_id: string | null; wait_event: string | null }[]>`
        select query_id::text, wait_event from pg_stat_activity where pid = ${pid}`
      return row?.wait_event === 'advisory' && row.query_id ? row.query_id : undefined
    })
    for (const user of ['postgres', monitorRole]) {
      const rows = await sampleOnce(connect('app', user))
      const row = rows.find((r) => r.wait_event === 'advisory')
      expect(row).toMatchObject({
        datname: 'app',
        backend_type: 'client backend',
        state: 'active',
        wait_event_type: 'Lock',
        query_id: queryId,
        samples: '1',
        samples_taken: 1,
        avg_sessions: 1,
        sampler: 'pg_stat_activity',
      })
      // Idle sessions and background processes idling in their main loop are not sampled.
      expect(rows.filter((r) => r.state === 'idle' || r.wait_event_type === 'Activity')).toEqual([])
    }
    await holder`select pg_advisory_unlock(4242)`
    expect(await waiting).toBe('acquired')
    // The statement it was running is in pg_stat_statements under the same identifier.
    // (The holder's own call shares the normalized statement, so two calls.)
    const [statement] = await holder<{ query: string; calls: string }[]>`
      select query, calls::text from pg_stat_statements where queryid = ${queryId}::bigint`
    expect(statement).toEqual({ query: 'select pg_advisory_lock($1)', calls: '2' })
  })

  it('hides other users’ wait events from a login without pg_monitor', async () => {
    await connect('postgres').unsafe('create role pga_sampling_plain login')
    const sleeping = await sleeper('app')
    const rows = await sampleOnce(connect('app', 'pga_sampling_plain'))
    expect(rows.some((r) => r.wait_event === 'PgSleep')).toBe(false)
    await sleeping.stop()
  })
})

describe('the session sampler', () => {
  it('sums samples per combination, bounds its series and stops', async () => {
    const sql = connect('app')
    const planned = await plan(sql)
    const errors: unknown[] = []
    const options = {
      periodMs: 100,
      rowLimit: 500,
      maxSeries: 100,
      deadlineMs: 10_000,
      onTimeout: () => {},
      onError: (error: unknown) => errors.push(error),
    }
    const sleeping = await sleeper('app')
    const sampler = new SessionSampler(sql, planned.sql, options)
    for (let i = 0; i < 3; i++) await sampler.sampleOnce()
    const drained = sampler.drain()
    expect(drained.sampleCount).toBe(3)
    const row = (JSON.parse(drained.rows) as Row[]).find((r) => r.wait_event === 'PgSleep')
    expect(row).toMatchObject({ samples: 3, samples_taken: 3, avg_sessions: 1, query_id: sleeping.queryId })
    // A drain starts over.
    expect(sampler.drain()).toEqual({ rows: '[]', sampleCount: 0, droppedObservations: 0 })
    // Beyond the series cap observations are counted, not kept.
    const capped = new SessionSampler(sql, planned.sql, { ...options, maxSeries: 0 })
    await capped.sampleOnce()
    expect(capped.drain()).toMatchObject({ rows: '[]', sampleCount: 1 })
    await capped.sampleOnce()
    expect(capped.drain().droppedObservations).toBeGreaterThanOrEqual(1)
    // Started, it samples on its own until stopped.
    sampler.start()
    let taken = 0
    await until('the sampler to take samples', async () => {
      taken += sampler.drain().sampleCount
      return taken >= 2 ? true : undefined
    })
    await sampler.stop()
    sampler.drain()
    await sampler.sampleOnce()
    expect(sampler.drain().sampleCount).toBe(0)
    expect(errors).toEqual([])
    await sleeping.stop()
  })
})

describe('pg_wait_sampling', () => {
  it('is read from its profile as the difference from the previous snapshot', async () => {
    const admin = connect('profiled')
    const capabilities = await probeCapabilities(admin)
    expect(capabilities).toMatchObject({ waitSamplingLoaded: true })
    expect(capabilities.extensionSchemas?.pg_wait_sampling).toBe('public')
    // Loaded but not created in this database: the collector's sampler.
    expect((await plan(connect('app'))).sampled).toBe(true)
    for (const user of ['postgres', monitorRole]) {
      const sql = connect('profiled', user)
      const planned = await plan(sql)
      expect(planned.source).toContain('pg_wait_sampling_profile')
      expect(planned.sampled).toBeUndefined()
      // The first snapshot only records the profile.
      const first = await fetchRows(sql, planned, queryParams(group, planned))
      expect(first.rows).toBe('[]')
      expect(JSON.parse(first.counters as string)).toMatchObject({ at: expect.any(String) })
      const sleeping = await sleeper('profiled')
      const rows = await until('the sleep to be profiled', async () => {
        const next = await fetchRows(sql, planned, queryParams(group, planned, first.counters))
        const found = (JSON.parse(next.rows) as Row[]).find((r) => r.wait_event === 'PgSleep')
        return found && Number(found.samples) >= 10 ? (JSON.parse(next.rows) as Row[]) : undefined
      })
      const row = rows.find((r) => r.wait_event === 'PgSleep')
      expect(row).toMatchObject({
        datname: 'profiled',
        backend_type: 'client backend',
        state: null,
        wait_event_type: 'Timeout',
        sampler: 'pg_wait_sampling',
      })
      expect(row?.samples_taken).toBeGreaterThan(0)
      expect(Number(row?.avg_sessions)).toBeGreaterThan(0)
      await sleeping.stop()
      // Against the latest profile the sleep is already counted: it is not counted again.
      const latest = await fetchRows(sql, planned, queryParams(group, planned, first.counters))
      const again = await fetchRows(sql, planned, queryParams(group, planned, latest.counters))
      const sleepRows = (JSON.parse(again.rows) as Row[]).filter(
        (r) => r.wait_event === 'PgSleep' && r.datname === 'profiled',
      )
      expect(sleepRows).toEqual([])
    }
  }, 120_000)
})

describe('collection', () => {
  /** A real instance worker over the `app` database of this cluster. */
  function worker(
    intervals: Record<string, number>,
    sessionSampleSeconds: number,
    databaseOfOpen?: (database: string, opened: number) => string,
    log?: Logger,
  ) {
    return testInstanceWorker({
      store,
      monitoredUrl: Object.assign(new URL(pg.url), { pathname: '/app' }).toString(),
      name: 'sampling',
      intervals,
      statementTimeoutMs: 10_000,
      sessionSampleSeconds,
      ...(databaseOfOpen ? { databaseOfOpen } : {}),
      ...(log ? { log } : {}),
    })
  }
  const onlySessions = (seconds?: number) =>
    Object.fromEntries(
      metricGroups
        .filter((g) => g.name !== 'session_samples' || seconds !== undefined)
        .map((g) => [g.name, g.name === 'session_samples' ? (seconds as number) : 0]),
    )
  const snapshots = (instanceId: string) =>
    store<{ status: string; row_count: number | null; error: string | null }[]>`
      select status, row_count, error from sn_stat_snapshot
       where instance_id = ${instanceId} and group_name = 'session_samples' order by snap_id`

  it('stores the sampler’s sums per snapshot while sampling is on', async () => {
    const sleeping = await sleeper('app')
    const w = worker(onlySessions(60), 1)
    try {
      // The first round starts the sampler; later rounds (each a day further on, so the group
      // is due) store its sums.
      await w.collectDue(Date.now())
      let day = 0
      const stored = await until('a snapshot with the sleeping session', async () => {
        day++
        await w.collectDue(Date.now() + 86_400_000 * day)
        const rows = await store<Row[]>`
          select datname, state, wait_event, query_id::text, samples::int, samples_taken, avg_sessions, sampler
            from sn_session_samples where instance_id = ${w.instance.id} and wait_event = 'PgSleep'`
        return rows[0]
      })
      expect(stored).toMatchObject({
        datname: 'app',
        state: 'active',
        query_id: sleeping.queryId,
        sampler: 'pg_stat_activity',
      })
      expect(stored.samples).toBe(stored.samples_taken)
      expect(stored.avg_sessions).toBe(1)
      expect((await snapshots(w.instance.id)).every((s) => s.status === 'ok')).toBe(true)
    } finally {
      await w.close()
      await sleeping.stop()
    }
  }, 120_000)

  it('records why when every sample failed, and starts the sampler again on a new connection', async () => {
    // The second connection opened (the sampler's) goes to a database that does not exist.
    const logs = captureLogs('info')
    const w = worker(
      onlySessions(60),
      1,
      (database, opened) => (opened === 2 ? 'no_such_database' : database),
      logs.log,
    )
    const sampleFailures = () => logs.lines.filter((line) => line.includes('"session sample failed"')).length
    try {
      await w.collectDue(Date.now())
      await until('the first failed sample', async () => sampleFailures() > 0 || undefined)
      // A round before the sampler's 2 s grace is over: it must keep the reason for the round
      // that reports it (it once dropped it, and the report said "none finished").
      let day = 1
      await w.collectDue(Date.now() + 86_400_000 * day)
      const failed = await until('a failed session_samples snapshot', async () => {
        day++
        await w.collectDue(Date.now() + 86_400_000 * day)
        return (await snapshots(w.instance.id)).find((s) => s.status === 'failed')
      })
      expect(failed.error).toMatch(/^no session sample succeeded since the last snapshot \(connection_/)
      expect(failed.error).not.toContain('no_such_database')
      // Logged once until reported, not once per failed sample.
      expect(sampleFailures()).toBe(1)
      // The next round starts a sampler on a new (good) connection: it sees the sleeping session.
      const sleeping = await sleeper('app')
      try {
        await until('samples stored after the failure', async () => {
          day++
          await w.collectDue(Date.now() + 86_400_000 * day)
          const [row] = await store`
            select 1 from sn_session_samples where instance_id = ${w.instance.id} and wait_event = 'PgSleep'`
          return row
        })
      } finally {
        await sleeping.stop()
      }
    } finally {
      await w.close()
    }
  }, 120_000)

  it('is off by default, and an instance asking for it while sampling is off records why', async () => {
    const off = worker(onlySessions(), 0)
    await off.collectDue(Date.now())
    await off.close()
    expect(await snapshots(off.instance.id)).toEqual([])
    const asked = worker(onlySessions(60), 0)
    await asked.collectDue(Date.now())
    await asked.close()
    expect(await snapshots(asked.instance.id)).toEqual([
      {
        status: 'unavailable',
        row_count: 0,
        error: expect.stringContaining('PGA_COLLECTOR_SESSION_SAMPLE_SECONDS=0'),
      },
    ])
  })
})
