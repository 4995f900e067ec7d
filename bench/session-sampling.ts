// Cost of session sampling (issue 15), on the monitored server. It PRINTS figures; it never passes
// or fails on them. One throwaway PostgreSQL cluster with pg_wait_sampling preloaded holds
// --idle idle sessions and --active sessions sleeping in pg_sleep. On one connection, as the
// sampler runs it, the one-sample query of session_samples runs --samples times; the same
// number of `select 1` on the same connection is the same-run reference (a round trip that does
// nothing). Then the pg_wait_sampling variant (one profile read per snapshot, diffed against the
// previous profile) runs --samples times in a database where the extension is created. Reported:
// wall time per call (median, p95) and CPU the monitored backend spent per call (/proc/<pid>/stat).
// Run from the repository root:
//   node_modules/.bin/bun bench/session-sampling.ts [--idle 100] [--active 20] [--samples 300]
import { cpus, loadavg } from 'node:os'
import { parseArgs } from 'node:util'
import postgres from 'postgres'
import { findGroup, type PlannedQuery, planGroup, queryParams } from '../src/collector/catalog/index.ts'
import { fetchRows } from '../src/collector/worker-helpers.ts'
import { probeCapabilities } from '../src/instances/probe.ts'
import { startPostgres, type TestPostgres } from '../test/harness/postgres.ts'
import { cpuSeconds, databaseUrl, fmt, median, note, quantile, runBench, table } from './support.ts'

const { values } = parseArgs({
  options: {
    idle: { type: 'string', default: '100' },
    active: { type: 'string', default: '20' },
    samples: { type: 'string', default: '300' },
  },
})
const idle = Number(values.idle)
const active = Number(values.active)
const samples = Number(values.samples)
const group = findGroup('session_samples')
if (!group) throw new Error('no session_samples group')

let pg: TestPostgres | undefined
const clients: postgres.Sql[] = []
const open = (database: string) => {
  const sql = postgres(databaseUrl((pg as TestPostgres).url, database), { max: 1, onnotice: () => {} })
  clients.push(sql)
  return sql
}

type Measured = { name: string; wallMs: number[]; cpuMsPerCall: number; rows: number }

/** `calls` runs of `run` on `sql`: wall time of each, and the backend's CPU over all. */
async function measure(name: string, sql: postgres.Sql, run: () => Promise<number>): Promise<Measured> {
  const [{ pid }] = (await sql`select pg_backend_pid() as pid`) as unknown as [{ pid: number }]
  for (let i = 0; i < 10; i++) await run()
  const cpuBefore = cpuSeconds(pid)
  const wallMs: number[] = []
  let rows = 0
  for (let i = 0; i < samples; i++) {
    const started = performance.now()
    rows = await run()
    wallMs.push(performance.now() - started)
  }
  const cpuMsPerCall = ((cpuSeconds(pid) - cpuBefore) * 1000) / samples
  return { name, wallMs: wallMs.sort((a, b) => a - b), cpuMsPerCall, rows }
}

async function main() {
  note(`starting a cluster with pg_wait_sampling, ${idle} idle and ${active} sleeping sessions`)
  pg = await startPostgres([
    'shared_preload_libraries=pg_stat_statements,pg_wait_sampling',
    'max_connections=400',
  ])
  const admin = open('postgres')
  await admin`create database profiled`
  const profiledAdmin = open('profiled')
  await profiledAdmin`create extension pg_wait_sampling`
  for (let i = 0; i < idle; i++) await open('postgres')`select 1`
  for (let i = 0; i < active; i++) void open('postgres')`select pg_sleep(3600)`.catch(() => {})
  const sampler = open('postgres')
  const plan = planGroup(group as never, await probeCapabilities(sampler)) as PlannedQuery
  if (!plan.sampled) throw new Error(`expected the sampled variant, got ${plan.source}`)
  const params = queryParams(group as never, plan)
  const reference = await measure(
    'select 1 (reference)',
    sampler,
    async () => (await sampler`select 1`).length,
  )
  const sample = await measure(
    'one sample (pg_stat_activity)',
    sampler,
    async () => (await sampler.unsafe(plan.sql, params, { prepare: true })).length,
  )
  const profiled = open('profiled')
  const profilePlan = planGroup(group as never, await probeCapabilities(profiled)) as PlannedQuery
  if (!profilePlan.counters) throw new Error(`expected the profile variant, got ${profilePlan.source}`)
  let previous: string | undefined
  const profile = await measure('profile snapshot (pg_wait_sampling)', profiled, async () => {
    const fetched = await fetchRows(profiled, profilePlan, queryParams(group as never, profilePlan, previous))
    previous = fetched.counters
    return (JSON.parse(fetched.rows) as unknown[]).length
  })
  const results = [reference, sample, profile]
  console.log(
    `\nSession sampling, PostgreSQL ${pg.version}, ${idle} idle + ${active} active sessions, ${samples} calls each; ${cpus().length} CPUs, load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}\n`,
  )
  console.log(
    table(
      ['query', 'rows', 'wall median ms', 'wall p95 ms', 'backend CPU ms/call', 'CPU vs select 1'],
      results.map((r) => [
        r.name,
        String(r.rows),
        fmt(median(r.wallMs), 2),
        fmt(quantile(r.wallMs, 0.95), 2),
        fmt(r.cpuMsPerCall, 3),
        fmt(r.cpuMsPerCall / Math.max(reference.cpuMsPerCall, 1e-6), 1),
      ]),
      [1, 2, 3, 4, 5],
    ),
  )
}

await runBench(
  'session-sampling',
  main,
  async () => {
    for (const sql of clients) await sql.end({ timeout: 1 }).catch(() => {})
    await pg?.stop()
  },
  600_000,
)
