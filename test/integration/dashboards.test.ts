// Every dashboard query, run the way Grafana runs it, against a store filled by real collection:
// each template variable and panel SQL of every dashboard is interpolated as Grafana does
// (test/support/grafana-sql.ts) and executed over a login that has only the Grafana roles the
// migrations create; each must succeed, and return rows for at least one populated instance
// (the primary or the standby) unless the test environment cannot produce the case. The
// Prometheus panels and the alert rules run in a real Prometheus scraping the service with the
// provisioned scrape configuration; every metric a rule names must be one the service exports.
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { dashboards } from '../../grafana/src/index.ts'
import { allAlerts } from '../../prometheus/src/render.ts'
import { backupFamilies } from '../../src/backup/exposition.ts'
import { allGroups } from '../../src/collector/catalog/index.ts'
import { familyOf } from '../../src/metrics/prometheus.ts'
import { nodeRuntime } from '../../src/runtime/node.ts'
import type { HttpServer } from '../../src/runtime/runtime.ts'
import { type ReplicationRig, startReplicationRig } from '../harness/replication-rig.ts'
import { startTestApp, type TestApp } from '../support/app.ts'
import { numericTypes, panelQueries, resolveVariables, runSqlPanel } from '../support/dashboard-queries.ts'
import { type PopulatedStore, populateStore } from '../support/populated-store.ts'
import { type PrometheusServer, startPrometheus } from '../support/prometheus-server.ts'

const token = 'dashboards-test-admin-token-0123456789'
let t: TestApp
let rig: ReplicationRig
let store: PopulatedStore
let grafana: postgres.Sql
let grafanaNoText: postgres.Sql
const from = new Date(Date.now() - 10 * 60_000)

/** Panels the test environment cannot fill, and why; every other panel must show rows. */
const cannotFill: Record<string, string> = {
  'Worst alerts firing': 'no alert has been firing long enough in a test run',
  'Vacuums running': 'no vacuum happens to run at a collection',
  ...(inject('pgVersion') < 16
    ? { 'Writes by backend type (pg_stat_io)': 'pg_stat_io needs PostgreSQL 16' }
    : {}),
}

beforeAll(async () => {
  ;[t, rig] = await Promise.all([
    startTestApp({ PGA_ADMIN_TOKEN: token, PGA_COLLECTOR_ENABLED: 'false' }),
    startReplicationRig(),
  ])
  store = await populateStore(t, rig, token)
  const role = `pga_grafana_${Math.random().toString(36).slice(2, 8)}`
  await t.deps.db.sql.unsafe(
    `create role ${role} login in role pganalytics_grafana, pganalytics_grafana_query_text`,
  )
  await t.deps.db.sql.unsafe(`create role ${role}_plain login in role pganalytics_grafana`)
  const url = new URL(t.deps.config.store.kind === 'postgres' ? t.deps.config.store.url : '')
  url.username = role
  grafana = postgres(url.toString(), { max: 1, onnotice: () => {} })
  url.username = `${role}_plain`
  grafanaNoText = postgres(url.toString(), { max: 1, onnotice: () => {} })
}, 240_000)

afterAll(async () => {
  await grafana?.end()
  await grafanaNoText?.end()
  await t?.close()
  await rig?.stop()
})

describe('dashboard SQL against the populated store, as the Grafana role', () => {
  for (const definition of dashboards) {
    it(definition.file, async () => {
      const dashboard = definition.build().build()
      const to = new Date()
      const rowsByPanel = new Map<string, number>()
      for (const instance of [store.primaryId, store.standbyId]) {
        const { values, options } = await resolveVariables(grafana, dashboard, { from, to }, { instance })
        for (const [name, found] of Object.entries(options))
          expect(found.length, `${definition.file}: variable ${name} has options`).toBeGreaterThan(0)
        for (const query of panelQueries(dashboard).filter((q) => q.kind === 'sql')) {
          const result = await runSqlPanel(grafana, query, { from, to, variables: values }).catch((error) => {
            throw new Error(`${definition.file} / ${query.panel}: ${(error as Error).message}`)
          })
          rowsByPanel.set(query.panel, (rowsByPanel.get(query.panel) ?? 0) + result.rows.length)
          if (query.format === 'time_series' && result.rows.length > 0) {
            expect(
              result.columns.map((c) => c.name),
              query.panel,
            ).toContain('time')
            expect(
              result.columns.some((c) => numericTypes.has(c.type)),
              `${query.panel}: a numeric column`,
            ).toBe(true)
            const times = result.rows.map((r) => new Date(r.time as string).getTime())
            expect(
              [...times].sort((a, b) => a - b),
              `${query.panel}: in time order`,
            ).toEqual(times)
          }
        }
      }
      const empty = [...rowsByPanel].filter(([panel, rows]) => rows === 0 && !(panel in cannotFill))
      expect(
        empty.map(([panel]) => panel),
        `${definition.file}: panels without rows`,
      ).toEqual([])
    })
  }

  it('the Grafana role reads no secret and no query text of its own accord', async () => {
    await expect(grafana`select password_enc from pga_instances`).rejects.toThrow(/permission denied/)
    await expect(grafana`select query from sn_statement_texts`).rejects.toThrow(/permission denied/)
    await expect(grafana`select query from sn_lock_waits`).rejects.toThrow(/permission denied/)
    await expect(grafana`select * from auth_users`).rejects.toThrow(/permission denied/)
    await expect(grafana`select credentials_enc from backup_repositories`).rejects.toThrow(
      /permission denied/,
    )
    await expect(grafana`select requested_by from backup_metadata`).rejects.toThrow(/permission denied/)
    await expect(grafana`select secrets_enc from auth_identity_providers`).rejects.toThrow(
      /permission denied/,
    )
    const [withText] = await grafana<{ query: string }[]>`
      select pga_statement_text(instance_id, queryid) as query from sn_stat_statements
       where instance_id = ${store.primaryId} and pga_statement_text(instance_id, queryid) is not null limit 1`
    expect(withText?.query).not.toMatch(/hidden/)
    const [hidden] = await grafanaNoText<{ query: string }[]>`
      select pga_statement_text(${store.primaryId}::uuid, queryid) as query from sn_stat_statements limit 1`
    expect(hidden?.query).toMatch(/query text hidden/)
  })

  it('the Grafana role reads every group of snapshots (a group added without its grant fails here)', async () => {
    // Snapshot tables of the catalog, parents only; texts and lock-wait queries are read through
    // functions that apply the query-text rule instead.
    const ungranted = await t.deps.db.sql<{ table: string }[]>`
      select c.relname::text as table from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where n.nspname = 'public' and c.relname like 'sn\_%' and c.relkind in ('r', 'p') and not c.relispartition
         and c.relname not in ('sn_statement_texts', 'sn_lock_waits')
         and not has_table_privilege('pganalytics_grafana', c.oid, 'select')
       order by 1`
    expect(ungranted.map((r) => r.table)).toEqual([])
  })
})

describe('Prometheus over the service, with the provisioned scrape configuration and the rules', () => {
  let server: HttpServer
  let prometheus: PrometheusServer
  beforeAll(async () => {
    server = await nodeRuntime.serve(t.app.fetch, { host: '127.0.0.1', port: 0 })
    const viewer = await t.app.request('/api/v1/api-keys', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
      body: JSON.stringify({ name: 'prometheus', role: 'viewer' }),
    })
    prometheus = await startPrometheus({
      target: `127.0.0.1:${server.port}`,
      apiKey: ((await viewer.json()) as { key: string }).key,
    })
  }, 60_000)
  afterAll(async () => {
    await prometheus?.stop()
    await server?.close(2000)
  })

  it('scrapes every job and evaluates the rules without errors', async () => {
    const targets = await prometheus.waitForTargets([
      'pganalytics-instances',
      'pganalytics-tables',
      'pganalytics-service',
    ])
    expect(targets.map((x) => `${x.job}: ${x.health} ${x.lastError}`)).toEqual(
      targets.map((x) => `${x.job}: up `),
    )
    const groups = await prometheus.waitForRuleEvaluation()
    expect(groups.filter((g) => g.lastError).map((g) => `${g.name}: ${g.lastError}`)).toEqual([])
    // The exposition's instance label survives (honor_labels), so alerts name the instance.
    const series = await prometheus.query('pga_collect_success{group="database"}')
    expect(await prometheus.query('count by (job) ({job="pganalytics-tables"})')).toHaveLength(1)
    expect(series.map((s) => s.metric.instance).sort()).toEqual(['primary', 'standby', 'unreachable'])
  })

  it('runs the dashboards’ Prometheus panels', async () => {
    for (const definition of dashboards) {
      for (const query of panelQueries(definition.build().build()).filter((q) => q.kind === 'promql')) {
        const result = await prometheus.query(query.text)
        if (!(query.panel in cannotFill)) expect(result.length, query.panel).toBeGreaterThan(0)
      }
    }
  })

  it('every metric a rule names is exported by the service', async () => {
    const exported = await prometheus.metricNames()
    const named = new Set(allAlerts().flatMap((a) => a.expr.match(/\b(pga|pganalytics)_[a-z0-9_]+/g) ?? []))
    // Families the exposition produces when there is data (a failed archive, a slot limit), even
    // if this run has none: every numeric catalog column, as prometheus.ts names it, and the
    // backup families (this store has no backups).
    const possible = new Set([
      ...allGroups.flatMap((g) => g.columns.map((c) => familyOf(g, c)?.name ?? '')),
      ...backupFamilies.map((f) => f.name),
    ])
    const missing = [...named].filter((name) => !exported.includes(name) && !possible.has(name))
    expect(missing).toEqual([])
  })
})
