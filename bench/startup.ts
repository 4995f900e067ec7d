// Start-to-ready of the compiled service, alone (bench/http.ts measures it among its load runs).
// It PRINTS figures (and writes them to bench/results/startup-latest.json); it never passes or
// fails on them. What it measures, with a throwaway PostgreSQL 15 + Redis (test/harness/):
//   1. start-to-ready: spawn → first 200 on /readyz, polled every 5 ms, the server pinned to CPU 0
//      (this script, PostgreSQL and Redis on CPU 1); BENCH_RUNS (default 11) starts after one
//      migrating first start, interleaved with a compiled bare Hono (bench/bare-hono.ts built with
//      --compile --bytecode --minify, first 200 on GET /) as the same-run reference;
//   2. with BENCH_COMPARE_BINARY=/path/to/pganalytics: that binary too, interleaved (before/after);
//   3. where start-up went: 7 more starts with PGA_LOG_LEVEL=info, reading `startupMs` (ms per
//      step, see src/serve.ts) from the "pganalytics ready" line.
// The machine is shared: before each round it waits (60 s budget in all) for the machine to be
// nearly idle, and it prints the load average. Every process it starts is stopped by PID.
// Run from the repository root: node_modules/.bin/bun bench/startup.ts   (about 1 minute)
// BENCH_BINARY=path skips the build and measures that binary instead of scripts/build.sh's.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { join, resolve } from 'node:path'
import { createTestDatabase, startPostgres } from '../test/harness/postgres.ts'
import { freePort } from '../test/harness/processes.ts'
import { startRedis } from '../test/harness/redis.ts'
import {
  benchProcesses,
  fmt,
  logTail,
  median,
  note,
  quietWaiter,
  round,
  runBench,
  table,
  waitForReady,
} from './support.ts'

const root = resolve(import.meta.dir, '..')
const runs = Number(process.env.BENCH_RUNS ?? 11)
const phaseRuns = 7
const serverCpu = '0'
const orchestratorCpu = '1'
const targetMs = 150

const processes = benchProcesses('bench-startup')
const quiet = quietWaiter({ budgetMs: 60_000, thresholdPercent: 25, pauseMs: 600 })

function baseEnv(extra: Record<string, string>): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: processes.work,
    LANG: 'C.UTF-8',
    ...extra,
  }
}

/** Spawns `cmd` pinned to the server CPU; returns ms to the first 200 on `readyPath` and the log. */
async function startToReady(options: {
  name: string
  cmd: string[]
  env: (port: number) => Record<string, string>
  readyPath: string
}): Promise<{ ms: number; log: string }> {
  const port = await freePort()
  const log = join(processes.work, `${options.name}-${port}.log`)
  const started = performance.now()
  const child = processes.spawn(['taskset', '-c', serverCpu, ...options.cmd], {
    cwd: processes.work,
    env: options.env(port),
    log,
  })
  try {
    const ms = await waitForReady(`http://127.0.0.1:${port}${options.readyPath}`, {
      startedAt: started,
      timeoutMs: 30_000,
      intervalMs: 5,
      child,
      describe: () => logTail(log),
    })
    return { ms, log }
  } finally {
    await processes.stop(child)
  }
}

/** The `startupMs` steps of the "pganalytics ready" line in a server log, and `toFirst200`: from
 * that line to the first 200 this script saw (the first /readyz's own work, and the background
 * starts and the sign-in warm-up competing for the one CPU). */
function startupSteps(start: { ms: number; log: string }): Record<string, number> | undefined {
  for (const line of readFileSync(start.log, 'utf8').split('\n')) {
    if (!line.includes('"pganalytics ready"')) continue
    const ready = JSON.parse(line) as { readyMs: number; startupMs?: Record<string, number> }
    if (!ready.startupMs) return undefined
    const toFirst200 = Math.round(start.ms - (ready.startupMs.process ?? 0) - ready.readyMs)
    return { ...ready.startupMs, toFirst200 }
  }
  return undefined
}

async function main() {
  Bun.spawnSync(['taskset', '-a', '-c', '-p', orchestratorCpu, String(process.pid)], { stdout: 'ignore' })
  const loadBefore = loadavg()
  const bun = join(root, 'node_modules', '.bin', 'bun')
  const binDir = join(processes.work, 'bin')
  mkdirSync(binDir)
  let binary = process.env.BENCH_BINARY
  if (!binary) {
    note('building (bash scripts/build.sh)...')
    const build = Bun.spawnSync(['bash', 'scripts/build.sh'], { cwd: root, stdout: 'pipe', stderr: 'pipe' })
    if (build.exitCode !== 0) throw new Error(`build failed:\n${build.stderr.toString()}`)
    binary = join(binDir, 'pganalytics')
    copyFileSync(join(root, 'dist', 'pganalytics'), binary)
  }
  const compare = process.env.BENCH_COMPARE_BINARY
  const bare = join(binDir, 'bare-hono')
  const bareBuild = Bun.spawnSync(
    [bun, 'build', '--compile', '--bytecode', '--minify', 'bench/bare-hono.ts', '--outfile', bare],
    { cwd: root, stdout: 'pipe', stderr: 'pipe' },
  )
  if (bareBuild.exitCode !== 0) throw new Error(`bare Hono build failed:\n${bareBuild.stderr.toString()}`)

  note('starting PostgreSQL and Redis...')
  const pg = await startPostgres()
  processes.onCleanup('postgres', () => pg.stop())
  const redis = await startRedis()
  processes.onCleanup('redis', () => redis.stop())
  const databaseUrl = await createTestDatabase(pg.url, 'pga_bench_startup')
  const masterKey = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64')
  const serviceEnv = (level: string) => (port: number) =>
    baseEnv({
      DATABASE_URL: databaseUrl,
      REDIS_URL: redis.url,
      PGA_MASTER_KEY: masterKey,
      PGA_PORT: String(port),
      PGA_LOG_LEVEL: level,
    })
  const service = (name: string, path: string, level = 'warn') =>
    startToReady({ name, cmd: [path, 'serve'], env: serviceEnv(level), readyPath: '/readyz' })

  note('first start (migrates the fresh database)...')
  const migrating = await service('migrating', binary)
  const measured: Record<string, number[]> = { binary: [], bareHono: [], ...(compare ? { compare: [] } : {}) }
  note(`${runs} interleaved rounds...`)
  for (let i = 0; i < runs; i++) {
    await quiet.wait()
    measured.binary?.push((await service('binary', binary)).ms)
    if (compare) measured.compare?.push((await service('compare', compare)).ms)
    const bareStart = await startToReady({
      name: 'bare-hono',
      cmd: [bare],
      env: (port) => baseEnv({ PORT: String(port) }),
      readyPath: '/',
    })
    measured.bareHono?.push(bareStart.ms)
  }
  note(`${phaseRuns} starts at PGA_LOG_LEVEL=info for the steps...`)
  const steps: Record<string, number>[] = []
  for (let i = 0; i < phaseRuns; i++) {
    await quiet.wait()
    const found = startupSteps(await service('steps', binary, 'info'))
    if (found) steps.push(found)
  }
  const loadAfter = loadavg()

  const summary = (values: number[]) => ({
    median: round(median(values)),
    min: round(Math.min(...values)),
    max: round(Math.max(...values)),
    runs: values.map((v) => round(v)),
  })
  const result = {
    date: new Date().toISOString(),
    loadAverage: { before: loadBefore.map((l) => round(l, 2)), after: loadAfter.map((l) => round(l, 2)) },
    quietWaitMs: Math.round(quiet.waitedMs),
    migratingFirstStartMs: round(migrating.ms),
    startToReadyMs: Object.fromEntries(Object.entries(measured).map(([k, v]) => [k, summary(v)])),
    stepsMs: steps,
  }
  mkdirSync(join(root, 'bench', 'results'), { recursive: true })
  writeFileSync(join(root, 'bench', 'results', 'startup-latest.json'), `${JSON.stringify(result, null, 2)}\n`)

  const label: Record<string, string> = {
    binary: 'pganalytics serve (this build)',
    compare: `pganalytics serve (${compare})`,
    bareHono: 'compiled bare Hono (GET /)',
  }
  const rows = Object.entries(measured).map(([k, v]) => [
    label[k] ?? k,
    String(v.length),
    fmt(median(v), 0),
    fmt(Math.min(...v), 0),
    fmt(Math.max(...v), 0),
  ])
  const stepNames = [...new Set(steps.flatMap((s) => Object.keys(s)))]
  const out = [
    `Start-to-ready (spawn -> first 200, polled every 5 ms; server pinned to CPU ${serverCpu}); load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')} before, ${loadAfter.map((l) => l.toFixed(2)).join(' ')} after; waited ${Math.round(quiet.waitedMs / 1000)} s for quiet`,
    table(['target', 'runs', 'median ms', 'min', 'max'], rows, [1, 2, 3, 4]),
    `first start on a fresh database (migrations): ${fmt(migrating.ms, 0)} ms`,
    `target: median < ${targetMs} ms: ${median(measured.binary ?? []) < targetMs ? 'met' : 'missed'}`,
    '',
    'Steps of this build (ms, from the ready line; `process` = exec to serveCommand; `toFirst200` = ready line to the first 200)',
    table(
      ['step', 'median', 'min', 'max'],
      stepNames.map((name) => {
        const values = steps.map((s) => s[name]).filter((v): v is number => v !== undefined)
        return [name, fmt(median(values), 0), fmt(Math.min(...values), 0), fmt(Math.max(...values), 0)]
      }),
      [1, 2, 3],
    ),
  ]
  console.log(out.join('\n'))
}

await runBench('bench/startup.ts', main, processes.cleanup, 5 * 60_000)
