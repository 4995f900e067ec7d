// The memory of a `serve` replica by what it has been asked (issue 17: serve's private memory).
// `serve` loads the API one capability at a time (src/serving-app.ts); this shows what each use
// costs. It PRINTS figures; it never passes or fails on them. A throwaway PostgreSQL 15 is the
// store and the state store is in-memory. Each run starts the binary fresh and, one step after
// the other, in the same process (3 s settle after each, then RSS split into anonymous and
// file-backed pages; and how long the step's first request took, which waits for what it loads):
//   1. probes only (ready);
//   2. a dashboard user: the instance list, a failed sign-in, /auth/me, an instance's series and
//      snapshots, the Prometheus exposition of instances (admin token where a route needs one);
//   3. one request, not signed in, to every capability (src/api-routes.json): the whole API;
//   4. the docs read: /openapi.json, /docs and its script.
// With --compare-binary PATH, that build runs the same steps, runs alternating.
// Run from the repository root (after `bash scripts/build.sh`):
//   node_modules/.bin/bun bench/api-memory.ts [--runs 3] [--compare-binary PATH]
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { cpus, loadavg, release } from 'node:os'
import { join, resolve } from 'node:path'
import postgres from 'postgres'
import { startPostgres, type TestPostgres } from '../test/harness/postgres.ts'
import { freePort } from '../test/harness/processes.ts'
import {
  benchProcesses,
  cliOption,
  databaseUrl,
  fmt,
  median,
  note,
  oneRequestPerCapability,
  procStatus,
  runBench,
  sleep,
  table,
  waitForReady,
} from './support.ts'

const root = resolve(import.meta.dir, '..')
const runs = Number(cliOption('runs') ?? 3)
const compareBinary = cliOption('compare-binary') && resolve(cliOption('compare-binary') as string)
const settleMs = 3000
const processes = benchProcesses('bench-api-memory')
let store: TestPostgres | undefined

type Request = { method: string; path: string }
const get = (path: string): Request => ({ method: 'GET', path })
const someId = '00000000-0000-4000-8000-000000000001'

const steps: { name: string; requests: Request[]; signedIn?: boolean }[] = [
  { name: 'probes only (ready)', requests: [get('/readyz'), get('/api/v1/version')] },
  {
    name: '+ dashboard user (sign-in, instances, series)',
    signedIn: true,
    requests: [
      get('/api/v1/instances'),
      { method: 'POST', path: '/api/v1/auth/login' },
      get('/api/v1/auth/me'),
      get(`/api/v1/instances/${someId}/metrics/database`),
      get(`/api/v1/instances/${someId}/snapshots`),
      get('/metrics/instances'),
    ],
  },
  // Not signed in: refused (401) or invalid (400), each still loads its capability, and none
  // rotates keys or starts work.
  { name: '+ every capability (whole API)', requests: oneRequestPerCapability(someId) },
  {
    name: '+ docs read (/docs, /openapi.json)',
    requests: [get('/openapi.json'), get('/docs'), get('/docs/swagger-ui-bundle.js')],
  },
]

type StepMemory = { rss: number; anon: number; file: number; firstMs: number }

async function runOnce(binary: string, env: Record<string, string>, token: string): Promise<StepMemory[]> {
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const child = processes.spawn([binary, 'serve'], {
    cwd: processes.work,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', PGA_PORT: String(port), ...env },
    log: join(processes.work, `serve-${port}.log`),
  })
  await waitForReady(`${base}/readyz`, { startedAt: performance.now(), child })
  const out: StepMemory[] = []
  for (const step of steps) {
    let firstMs = Number.NaN
    for (const { method, path } of step.requests) {
      const body =
        method === 'POST' ? JSON.stringify({ username: 'nobody', password: 'wrong password' }) : undefined
      for (let i = 0; i < 5; i++) {
        const started = performance.now()
        const answer = await fetch(`${base}${path}`, {
          method,
          headers: {
            Authorization: `Bearer ${token}`,
            ...(body ? { 'Content-Type': 'application/json' } : {}),
          },
          ...(body ? { body } : {}),
        })
        await answer.arrayBuffer()
        if (Number.isNaN(firstMs)) firstMs = performance.now() - started
        if (answer.status >= 500) throw new Error(`${method} ${path}: ${answer.status}`)
      }
    }
    await sleep(settleMs)
    out.push({
      rss: procStatus(child.pid, 'VmRSS') ?? Number.NaN,
      anon: procStatus(child.pid, 'RssAnon') ?? Number.NaN,
      file: procStatus(child.pid, 'RssFile') ?? Number.NaN,
      firstMs,
    })
  }
  await processes.stop(child)
  return out
}

async function main() {
  const binary = join(root, 'dist', 'pganalytics')
  if (!existsSync(binary)) throw new Error(`${binary} is missing: run bash scripts/build.sh first`)
  note('starting the store cluster')
  store = await startPostgres()
  const admin = postgres(store.url, { max: 1, onnotice: () => {} })
  const builds = [
    { name: 'this build', binary, database: 'pga_this' },
    ...(compareBinary ? [{ name: 'compared build', binary: compareBinary, database: 'pga_compared' }] : []),
  ]
  for (const build of builds) await admin.unsafe(`create database ${build.database}`)
  await admin.end()
  const masterKey = randomBytes(32).toString('base64')
  const token = randomBytes(24).toString('hex')
  const results = new Map<string, StepMemory[][]>(builds.map((b) => [b.name, []]))
  for (let run = 0; run < runs; run++)
    for (const build of run % 2 === 0 ? builds : [...builds].reverse()) {
      note(`run ${run + 1}/${runs}: ${build.name}`)
      const env = {
        DATABASE_URL: databaseUrl(store.url, build.database),
        PGA_MASTER_KEY: masterKey,
        PGA_ADMIN_TOKEN: token,
        PGA_LOG_LEVEL: 'warn',
        PGA_SELF_MONITOR: 'false',
      }
      results.get(build.name)?.push(await runOnce(build.binary, env, token))
    }

  console.log(
    `\nserve's memory by what it was asked, median of ${runs} runs, MiB (${cpus().length} × ${cpus()[0]?.model}, load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}, kernel ${release()})`,
  )
  const header = [
    'after',
    ...builds.flatMap((b) => [`${b.name} RSS`, 'anonymous', 'file-backed', 'first request ms']),
  ]
  const rows = steps.map((step, i) => [
    step.name,
    ...builds.flatMap((b) => {
      const at = (results.get(b.name) ?? []).map((r) => r[i] as StepMemory)
      return [
        ...[median(at.map((m) => m.rss)), median(at.map((m) => m.anon)), median(at.map((m) => m.file))].map(
          (n) => fmt(n),
        ),
        fmt(median(at.map((m) => m.firstMs))),
      ]
    }),
  ])
  console.log(table(header, rows, header.map((_, i) => i).slice(1)))
  console.log(
    `JSON ${JSON.stringify({ runs, steps: steps.map((s) => s.name), results: Object.fromEntries(results) })}`,
  )
}

await runBench(
  'api-memory',
  main,
  async () => {
    await processes.cleanup()
    await store?.stop()
  },
  (runs * 2 * 40 + 120) * 1000,
)
