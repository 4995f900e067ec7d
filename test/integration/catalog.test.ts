// Every metric group's SQL, as the catalog picks it, run against real servers: PostgreSQL from
// Debian (as superuser and as a login with only pg_monitor) and PGlite, which is PostgreSQL 18,
// for the newest shapes (pg_stat_checkpointer with num_done, pg_stat_io byte columns, pg_stat_wal
// without write counts). Each must return exactly the catalog's columns, in order.
import { PGlite } from '@electric-sql/pglite'
import { pg_buffercache } from '@electric-sql/pglite/contrib/pg_buffercache'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import {
  type MetricGroup,
  metricGroups,
  type PlannedQuery,
  planGroup,
  queryParams,
} from '../../src/collector/catalog/index.ts'
import type { Capabilities } from '../../src/instances/probe.ts'
import { probeCapabilities } from '../../src/instances/probe.ts'
import { readMigrationsDir } from '../../src/platform/db/migration-files.ts'
import { runMigrations } from '../../src/platform/db/migrations.ts'
import { createLogger } from '../../src/platform/log.ts'
import { createTestDatabase } from '../harness/postgres.ts'
import { figure } from '../support/figures.ts'

type Runner = { probe(): Promise<Capabilities>; columnsOf(sql: string, params: string[]): Promise<string[]> }

function postgresRunner(sql: postgres.Sql): Runner {
  return {
    probe: () => probeCapabilities(sql),
    async columnsOf(text, params) {
      const result = await sql.unsafe(text, params)
      return result.columns.map((c) => c.name)
    },
  }
}

let superuser: postgres.Sql
let monitor: postgres.Sql
const role = `pga_catalog_${Math.random().toString(36).slice(2, 8)}`

beforeAll(async () => {
  const url = await createTestDatabase(inject('pgUrl'))
  superuser = postgres(url, { max: 1, onnotice: () => {} })
  await superuser`create extension if not exists pg_stat_statements`
  // The groups read through contrib extensions run too (bloat_approx, buffer_pool, buffer_usage).
  await superuser`create extension if not exists pgstattuple`
  await superuser`create extension if not exists pg_buffercache`
  await superuser.unsafe(`create role ${role} login in role pg_monitor`)
  await superuser`create table t (id int primary key, v text)`
  await superuser`insert into t select g, 'x' from generate_series(1, 100) g`
  const monitorUrl = new URL(url)
  monitorUrl.username = role
  monitor = postgres(monitorUrl.toString(), { max: 1, onnotice: () => {} })
})
afterAll(async () => {
  await monitor?.end()
  await superuser?.end()
})

async function checkEveryGroup(runner: Runner) {
  const capabilities = await runner.probe()
  const outcome: Record<string, string> = {}
  for (const group of metricGroups) {
    const plan = planGroup(group, capabilities)
    if ('unavailable' in plan) {
      outcome[group.name] = `unavailable: ${plan.unavailable}`
      continue
    }
    const columns = await runner.columnsOf(plan.sql, queryParams(group, plan))
    expect(columns, `${group.name} (${plan.source})`).toEqual(group.columns.map((c) => c.name))
    // A group ranked by change also yields the counters its next run ranks against.
    if (plan.counters) expect(await runner.columnsOf(plan.counters, [])).toHaveLength(1)
    outcome[group.name] = plan.source
  }
  return { capabilities, outcome }
}

describe('units', () => {
  it('counts buffer reads and hits of databases in blocks', () => {
    const database = metricGroups.find((g) => g.name === 'database')
    const units = Object.fromEntries(database?.columns.map((c) => [c.name, c.unit]) ?? [])
    expect(units).toMatchObject({ blks_read: 'blocks', blks_hit: 'blocks', xact_commit: 'count' })
  })
})

describe('snapshot tables', () => {
  it('have exactly the catalog columns and types, after snap_id, instance_id and taken_at', async () => {
    const url = await createTestDatabase(inject('pgUrl'))
    const store = postgres(url, { max: 1, onnotice: () => {} })
    try {
      await runMigrations(store, readMigrationsDir(), createLogger({ level: 'error', write: () => {} }))
      for (const group of metricGroups) {
        const rows = await store<{ name: string; type: string }[]>`
          select a.attname::text as name, format_type(a.atttypid, a.atttypmod) as type
            from pg_attribute a where a.attrelid = ${group.table}::regclass and a.attnum > 0 and not a.attisdropped
           order by a.attnum`
        expect(rows, group.table).toEqual([
          { name: 'snap_id', type: 'bigint' },
          { name: 'instance_id', type: 'uuid' },
          { name: 'taken_at', type: 'timestamp with time zone' },
          ...group.columns.map((c) => ({
            name: c.name,
            type: c.type === 'timestamptz' ? 'timestamp with time zone' : c.type,
          })),
        ])
      }
    } finally {
      await store.end()
    }
  })
})

describe('metric catalog against real servers', () => {
  it('every group runs on the Debian PostgreSQL as superuser', async () => {
    const { capabilities, outcome } = await checkEveryGroup(postgresRunner(superuser))
    expect(capabilities.statementsSchema).toBe('public')
    expect(Object.values(outcome).filter((o) => o.startsWith('unavailable'))).toEqual(
      capabilities.serverVersionNum >= 160000 ? [] : [outcome.io],
    )
    expect(outcome.checkpointer).toContain(
      capabilities.serverVersionNum >= 170000 ? 'pg_stat_checkpointer' : 'pg_stat_bgwriter',
    )
    expect(outcome.buffer_pool).toContain(
      capabilities.serverVersionNum >= 160000 ? 'pg_buffercache_summary' : 'one pass over the pool',
    )
    expect(outcome.session_samples).toContain('pg_stat_activity sampled')
    // Statements carry the time statistics, and from 1.10 (PostgreSQL 15) temp times and JIT.
    const statements = metricGroups.find((g) => g.name === 'statements') as MetricGroup
    const plan = planGroup(statements, capabilities) as PlannedQuery
    const [row] = await superuser.unsafe(plan.sql, queryParams(statements, plan))
    expect(row?.mean_exec_time).toEqual(expect.any(Number))
    if (capabilities.serverVersionNum >= 150000) {
      expect(row?.temp_blk_read_time).toEqual(expect.any(Number))
      expect(figure(row?.jit_functions, 'jit_functions')).toBeGreaterThanOrEqual(0)
    }
  })

  it('every group runs with a login that has only pg_monitor', async () => {
    const { capabilities, outcome } = await checkEveryGroup(postgresRunner(monitor))
    expect(capabilities).toMatchObject({ superuser: false, pgMonitor: true })
    expect(outcome.storage).toContain('pg_ls_waldir')
    expect(outcome.statements).toContain('pg_stat_statements')
    // pg_monitor may read pg_buffercache (1.3+) and run pgstattuple_approx (pg_stat_scan_tables).
    expect(outcome.buffer_usage).toContain('pg_buffercache')
    expect(outcome.bloat_approx).toContain('pgstattuple_approx')
  })

  it('PostgreSQL 18 shapes: every available group runs on PGlite', async () => {
    const db = await PGlite.create({ extensions: { pg_buffercache } })
    try {
      await db.exec('create extension pg_buffercache')
      const runner: Runner = {
        async probe() {
          // PGlite speaks the same SQL; probe through a tiny postgres.js-shaped adapter.
          const sql = Object.assign(async (strings: TemplateStringsArray, ...values: unknown[]) => {
            const text = strings.reduce((acc, part, i) => `${acc}$${i}${part}`)
            return (await db.query(text, values)).rows
          }, {}) as unknown as postgres.Sql
          return probeCapabilities(sql)
        },
        async columnsOf(text, params) {
          return (await db.query(text, params)).fields.map((f) => f.name)
        },
      }
      const { capabilities, outcome } = await checkEveryGroup(runner)
      expect(capabilities.serverVersionNum).toBeGreaterThanOrEqual(180000)
      expect(outcome.checkpointer).toBe('pg_stat_checkpointer (PostgreSQL ≥ 18)')
      expect(outcome.io).toBe('pg_stat_io (PostgreSQL ≥ 18, byte columns)')
      expect(outcome.wal).toContain('≥ 18')
      expect(outcome.bgwriter).toContain('≥ 17')
      // Columns added in 16-18 are read from their views, not left null.
      for (const name of ['database', 'tables', 'vacuum_progress'])
        expect(outcome[name], name).toContain('PostgreSQL ≥ 18')
      expect(outcome.replication_slots).toBe('pg_replication_slots (PostgreSQL ≥ 17)')
      expect(outcome.subscriptions).toContain('PostgreSQL ≥ 16')
      for (const name of ['slru', 'recovery_prefetch', 'replication_slot_stats', 'checkpoint_state'])
        expect(outcome[name], name).not.toMatch(/^unavailable/)
      // pg_buffercache 1.4+ has the summary; 17+ names wait events in pg_wait_events.
      expect(outcome.buffer_pool).toContain('pg_buffercache_summary')
      expect(outcome.buffer_usage).toContain('pg_buffercache')
      expect(outcome.session_samples).toBe('pg_stat_activity sampled, pg_wait_events (PostgreSQL ≥ 17)')
      for (const name of ['table_bloat', 'index_bloat']) expect(outcome[name], name).toContain('estimate')
      expect(outcome.bloat_approx).toMatch(/^unavailable: the pgstattuple extension is not installed/)
      // The pg_wait_sampling variant with pg_wait_events (17+) cannot meet the real extension here
      // (it is tested on the Debian server): its shape is checked against a stand-in view with the
      // profile's columns, and a diff from a previous profile.
      await db.exec(`create view pg_wait_sampling_profile as
                       select 1 as pid, 'Timeout'::text as event_type, 'PgSleep'::text as event, 7::bigint as queryid,
                              5::bigint as count;
                     set pg_wait_sampling.profile_period = 10`)
      const sessions = metricGroups.find((g) => g.name === 'session_samples') as MetricGroup
      const profiled = planGroup(sessions, {
        ...capabilities,
        waitSamplingLoaded: true,
        extensions: { ...capabilities.extensions, pg_wait_sampling: '1.1' },
      }) as PlannedQuery
      expect(profiled.source).toContain('pg_wait_events (pg_wait_sampling, PostgreSQL ≥ 17)')
      const previous = JSON.stringify({ at: new Date(Date.now() - 1000).toISOString(), profile: [] })
      const diffed = await db.query<Record<string, unknown>>(
        profiled.sql,
        queryParams(sessions, profiled, previous),
      )
      expect(diffed.fields.map((f) => f.name)).toEqual(sessions.columns.map((c) => c.name))
      expect(diffed.rows[0]).toMatchObject({
        wait_event: 'PgSleep',
        samples: 5,
        sampler: 'pg_wait_sampling',
        wait_event_description: expect.stringContaining('sleep'),
      })
    } finally {
      await db.close()
    }
    // Starting PGlite (WebAssembly) alone can take tens of seconds on a loaded machine.
  }, 180_000)
})
