// HTTP benchmark of the compiled service. It PRINTS figures (and writes them to
// bench/results/http-latest.json); it never passes or fails on them. What it measures:
//   1. builds once (scripts/build.sh) and runs dist/pganalytics from a temp copy (no source tree);
//   2. throughput and latency (wrk, 50 connections, 10 s after a 2 s warm-up; server pinned to
//      CPU 0, wrk to CPU 1) of GET /livez, POST /api/v1/config/check (zod-validated JSON) and
//      GET /api/v1/version on the binary with an ephemeral PostgreSQL + Redis, against a bare Hono
//      app on Bun (bench/bare-hono.ts: GET /, POST /json with the same body) in the same run;
//   3. start-to-ready of the binary (spawn → first 200 on /readyz, polled every 5 ms): 7 runs with
//      external PostgreSQL + Redis; embedded defaults (PGlite in a temp PGA_DATA_DIR): first start
//      (initdb) once, reopen 3 runs;
//   4. RSS (/proc/<pid>/status): idle (ready + 1 s) and peak under the livez + POST load, for the
//      binary with external stores and with the embedded store;
//   5. the Node build (node dist/node/main.js serve) for comparison: start, RSS, livez and POST;
//   6. an in-process breakdown of the per-request cost (bench/http-breakdown.ts);
//   7. with BENCH_DIAGNOSE=1 only: the request path rebuilt piece by piece over HTTP on Bun and
//      Node (bench/http-ablation.ts), and start-up of a --bytecode build and of a compiled bare Hono.
// Before each load run it waits (60 s budget in all) for the machine to go idle, and reports the
// CPU other processes used during each run. Only 127.0.0.1; every process it starts is stopped
// by PID, also on error or Ctrl-C. About 2.5 minutes (4.5 with BENCH_DIAGNOSE=1); cut off at 5 (7).
// Run from the repository root: node_modules/.bin/bun bench/http.ts   (or npm run bench:http)
// BENCH_SECONDS (default 10) changes the length of each main load run.
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { cpus, loadavg, release, totalmem } from 'node:os'
import { join, resolve } from 'node:path'
import type { Subprocess } from 'bun'
import { createTestDatabase, startPostgres } from '../test/harness/postgres.ts'
import { freePort } from '../test/harness/processes.ts'
import { startRedis } from '../test/harness/redis.ts'
import type { BreakdownRow } from './http-breakdown.ts'
import { configCheckBody } from './service-pieces.ts'
import {
  benchProcesses,
  busyPercent,
  cpuSeconds,
  cpuTicks,
  ensureDebianCommand,
  fmt,
  fmtInt,
  logTail,
  median,
  oneRequestPerCapability,
  procStatus,
  quietWaiter,
  runBench,
  sleep,
  table,
  waitForReady,
} from './support.ts'

const root = resolve(import.meta.dir, '..')
const loadSeconds = Number(process.env.BENCH_SECONDS ?? 10)
const warmupSeconds = 2
const connections = 50
const startRuns = 7
const reopenRuns = 3
const watchdogMs = (process.env.BENCH_DIAGNOSE === '1' ? 7 : 5) * 60_000
const serverCpu = '0'
const clientCpu = '1'
// The config-check body the ablation uses too: one definition, in service-pieces.ts.
const postBody = configCheckBody
const targets = { postRatioMin: 0.5, startMedianMs: 150, idleRssMiB: 80 }

// ---------------------------------------------------------------------------------------------
// Processes: everything started here is registered and stopped by PID in `cleanup`.

const processes = benchProcesses('bench')
const work = processes.work
const onCleanup = processes.onCleanup
const stopProcess = processes.stop
const cleanup = processes.cleanup
const spawnTracked = processes.spawn

// Another workload on the machine skews every figure. Before each load run, wait (within a
// bounded budget for the whole run) until the machine is nearly idle; what other processes still
// use during the run is reported in the "other CPU %" column.
const quietBudgetTotalMs = 60_000
const quietThresholdPercent = 25
const quietness = quietWaiter({
  budgetMs: quietBudgetTotalMs,
  thresholdPercent: quietThresholdPercent,
  pauseMs: 600,
})
const waitForQuiet = quietness.wait

// ---------------------------------------------------------------------------------------------
// Servers.

type Server = {
  name: string
  child: Subprocess
  pid: number
  port: number
  base: string
  log: string
  readyMs: number
}

function baseEnv(extra: Record<string, string>): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', HOME: work, LANG: 'C.UTF-8', ...extra }
}

/** Spawns the server pinned to the server CPU on a free port and polls `readyPath` every 5 ms until 200. */
async function startServer(options: {
  name: string
  cmd: string[]
  cwd: string
  env: (port: number) => Record<string, string>
  readyPath: string
  timeoutMs: number
}): Promise<Server> {
  const port = await freePort()
  const log = join(work, `${options.name.replace(/\W+/g, '-')}-${port}.log`)
  const base = `http://127.0.0.1:${port}`
  const started = performance.now()
  const child = spawnTracked(['taskset', '-c', serverCpu, ...options.cmd], {
    cwd: options.cwd,
    env: options.env(port),
    log,
  })
  try {
    const readyMs = await waitForReady(`${base}${options.readyPath}`, {
      startedAt: started,
      timeoutMs: options.timeoutMs,
      intervalMs: 5,
      child,
      describe: () => `${options.name}\n${logTail(log)}`,
    })
    return { name: options.name, child, pid: child.pid, port, base, log, readyMs }
  } catch (error) {
    await stopProcess(child)
    throw error
  }
}

async function idleRss(server: Server): Promise<number> {
  await sleep(1000)
  return procStatus(server.pid, 'VmRSS') ?? Number.NaN
}

// ---------------------------------------------------------------------------------------------
// Load (wrk, pinned to the client CPU).

type LoadResult = {
  target: string
  url: string
  method: 'GET' | 'POST'
  seconds: number
  requests: number
  rps: number
  p50Ms: number
  p90Ms: number
  p99Ms: number
  maxMs: number
  errors: number
  non2xx: number
  serverCpuPercent: number
  serverCpuUsPerRequest: number
  wrkCpuPercent: number
  otherCpuPercent: number
  cpuBusyPercent: number[]
  quietWaitMs: number
  busyBeforePercent: number
  peakRssMiB: number
}

type WrkSummary = {
  requests: number
  durationUs: number
  connectErrors: number
  readErrors: number
  writeErrors: number
  statusErrors: number
  timeouts: number
  p50Us: number
  p90Us: number
  p99Us: number
  maxUs: number
}

async function wrk(
  url: string,
  seconds: number,
  body: string | undefined,
): Promise<WrkSummary & { cpuSeconds: number }> {
  const script = join(root, 'bench', 'wrk-report.lua')
  const cmd = [
    'taskset',
    '-c',
    clientCpu,
    'wrk',
    '-t1',
    `-c${connections}`,
    `-d${seconds}s`,
    '--timeout',
    '5s',
    '-s',
    script,
    url,
  ]
  const child = Bun.spawn(cmd, {
    env: baseEnv(body ? { WRK_BODY: body } : {}),
    stdout: 'pipe',
    stderr: 'pipe',
  })
  processes.track(child)
  const [out, err] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ])
  processes.untrack(child)
  const line = out.split('\n').find((l) => l.startsWith('WRK_JSON '))
  if (!line) throw new Error(`wrk gave no summary for ${url}:\n${out}\n${err}`)
  const usage = child.resourceUsage()
  const cpu = usage ? Number(usage.cpuTime.user + usage.cpuTime.system) / 1e6 : Number.NaN
  return { ...(JSON.parse(line.slice('WRK_JSON '.length)) as WrkSummary), cpuSeconds: cpu }
}

async function load(
  target: string,
  server: Server,
  path: string,
  options: { body?: string; seconds?: number; warmup?: number } = {},
) {
  const url = `${server.base}${path}`
  const seconds = options.seconds ?? loadSeconds
  const warmup = options.warmup ?? warmupSeconds
  process.stderr.write(`  load ${target} (${warmup} s warm-up + ${seconds} s)\n`)
  const quiet = await waitForQuiet()
  await wrk(url, warmup, options.body)
  let peak = procStatus(server.pid, 'VmRSS') ?? 0
  const sampler = setInterval(() => {
    peak = Math.max(peak, procStatus(server.pid, 'VmRSS') ?? 0)
  }, 50)
  const cpuBefore = cpuSeconds(server.pid)
  const ticksBefore = cpuTicks()
  const summary = await wrk(url, seconds, options.body).finally(() => clearInterval(sampler))
  const cpuBusy = busyPercent(ticksBefore, cpuTicks())
  const cpu = cpuSeconds(server.pid) - cpuBefore
  peak = Math.max(peak, procStatus(server.pid, 'VmRSS') ?? 0)
  const wall = summary.durationUs / 1e6
  const result: LoadResult = {
    target,
    url,
    method: options.body ? 'POST' : 'GET',
    seconds: Math.round(wall * 100) / 100,
    requests: summary.requests,
    rps: Math.round(summary.requests / wall),
    p50Ms: summary.p50Us / 1000,
    p90Ms: summary.p90Us / 1000,
    p99Ms: summary.p99Us / 1000,
    maxMs: summary.maxUs / 1000,
    errors: summary.connectErrors + summary.readErrors + summary.writeErrors + summary.timeouts,
    non2xx: summary.statusErrors,
    serverCpuPercent: Math.round((cpu / wall) * 1000) / 10,
    serverCpuUsPerRequest: Math.round((cpu * 1e6 * 10) / Math.max(1, summary.requests)) / 10,
    wrkCpuPercent: Math.round((summary.cpuSeconds / wall) * 1000) / 10,
    // Everything else: other workloads, plus this script, PostgreSQL and Redis (near idle here).
    otherCpuPercent: Math.max(
      0,
      Math.round(
        (cpuBusy.reduce((a, b) => a + b, 0) - (100 * cpu) / wall - (100 * summary.cpuSeconds) / wall) * 10,
      ) / 10,
    ),
    cpuBusyPercent: cpuBusy.map((n) => Math.round(n)),
    quietWaitMs: quiet.waitedMs,
    busyBeforePercent: quiet.busyPercent,
    peakRssMiB: Math.round(peak * 10) / 10,
  }
  return result
}

// ---------------------------------------------------------------------------------------------
// Machine.

function machine() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8')
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? cpus()[0]?.model ?? 'unknown'
  const nproc = Bun.spawnSync(['nproc', '--all']).stdout.toString().trim()
  const node = Bun.spawnSync(['node', '--version']).stdout.toString().trim()
  const wrkVersion = /wrk \S+/.exec(Bun.spawnSync(['wrk', '--version']).stdout.toString())?.[0] ?? 'wrk'
  return {
    nproc: Number(nproc),
    cpu: model,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    bun: Bun.version,
    node,
    wrk: wrkVersion,
  }
}

// ---------------------------------------------------------------------------------------------
// Printing.

function verdict(met: boolean, detail: string) {
  return met ? `met (${detail})` : `MISSED (${detail})`
}

// ---------------------------------------------------------------------------------------------

type Breakdown = BreakdownRow[] | { error: string }

async function runBreakdownPinned(): Promise<Breakdown> {
  const child = Bun.spawn(
    [
      'taskset',
      '-c',
      serverCpu,
      join(root, 'node_modules', '.bin', 'bun'),
      join(root, 'bench', 'http-breakdown.ts'),
      '--json',
    ],
    { cwd: root, env: baseEnv({}), stdout: 'pipe', stderr: 'pipe' },
  )
  processes.track(child)
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
  const [out, err, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ])
  clearTimeout(timer)
  processes.untrack(child)
  const line = out.trim().split('\n').at(-1) ?? ''
  if (code !== 0 || !line.startsWith('['))
    return { error: `exit ${code}: ${err.trim().split('\n').slice(-5).join(' | ')}` }
  return JSON.parse(line) as BreakdownRow[]
}

/** Wall time of a short command pinned to the server CPU (spawn to exit), in ms. */
async function timeCommand(cmd: string[], cwd: string, env: Record<string, string>): Promise<number> {
  const started = performance.now()
  const child = Bun.spawn(['taskset', '-c', serverCpu, ...cmd], {
    cwd,
    env,
    stdout: 'ignore',
    stderr: 'ignore',
  })
  processes.track(child)
  await child.exited
  processes.untrack(child)
  return performance.now() - started
}

type Diagnostics = {
  ablation: (LoadResult & { runtime: 'bun' | 'node'; variant: string; what: string })[]
  startup: {
    bytecodeBuild: { ok: boolean; binaryMiB?: number; error?: string }
    versionCommandMs: { standard: number[]; bytecode: number[] }
    startToReadyMs: { standard: number[]; bytecode: number[]; bareHonoBinary: number[] }
  }
}

/**
 * BENCH_DIAGNOSE=1: where the time goes. (a) The service's request path rebuilt piece by piece
 * over HTTP (bench/http-ablation.ts); (b) start-up: the same binary built with --bytecode, and a
 * compiled bare Hono binary as the floor of a Bun binary serving HTTP.
 */
async function diagnose(ctx: {
  binary: string
  binDir: string
  externalEnv: (port: number) => Record<string, string>
}): Promise<Diagnostics> {
  const bun = join(root, 'node_modules', '.bin', 'bun')
  const { ablationVariants } = await import('./service-pieces.ts')
  const ablation: Diagnostics['ablation'] = []
  const runAblation = async (runtime: 'bun' | 'node', cmd: string[], names: string[]) => {
    const server = await startServer({
      name: `ablation-${runtime}`,
      cmd,
      cwd: root,
      env: (port) => baseEnv({ PORT: String(port) }),
      readyPath: '/get-json',
      timeoutMs: 10_000,
    })
    for (const variant of names) {
      const v = ablationVariants[variant]
      if (!v) continue
      const body = v.method === 'POST' ? postBody : undefined
      const result = await load(`ablation ${runtime} ${variant}`, server, `/${variant}`, { body, seconds: 4 })
      ablation.push({ ...result, runtime, variant, what: v.what })
    }
    await stopProcess(server.child)
  }
  process.stderr.write('diagnostics: ablation over HTTP on bun (bench/http-ablation.ts)...\n')
  await runAblation('bun', [bun, join(root, 'bench', 'http-ablation.ts')], Object.keys(ablationVariants))
  // Node 20 does not run TypeScript: bundle it next to node_modules, in the git-ignored results dir.
  const nodeBundle = join(root, 'bench', 'results', 'http-ablation.node.mjs')
  const bundled = Bun.spawnSync(
    [bun, 'build', '--target=node', '--packages=external', 'bench/http-ablation.ts', '--outfile', nodeBundle],
    { cwd: root, stdout: 'ignore', stderr: 'pipe' },
  )
  if (bundled.exitCode === 0) {
    process.stderr.write('diagnostics: ablation over HTTP on node...\n')
    await runAblation(
      'node',
      ['node', nodeBundle],
      [
        'get-json',
        'get-request-id',
        'get-security-headers',
        'get-body-limit',
        'get-all',
        'post-echo',
        'post-all',
      ],
    )
  }
  rmSync(nodeBundle, { force: true })

  process.stderr.write('diagnostics: start-up with --bytecode, and a compiled bare Hono...\n')
  const migrations = readdirSync(join(root, 'migrations'))
    .filter((f) => f.endsWith('.sql'))
    .map((f) => join('migrations', f))
  const bytecodeBinary = join(ctx.binDir, 'pganalytics-bytecode')
  const compile = Bun.spawnSync(
    [
      bun,
      'build',
      '--compile',
      '--minify',
      '--bytecode',
      '--format=esm',
      '--sourcemap=none',
      'src/main.ts',
      ...migrations,
      '--outfile',
      bytecodeBinary,
    ],
    { cwd: root, stdout: 'pipe', stderr: 'pipe' },
  )
  const bareBinary = join(ctx.binDir, 'bare-hono')
  Bun.spawnSync([bun, 'build', '--compile', '--minify', 'bench/bare-hono.ts', '--outfile', bareBinary], {
    cwd: root,
    stdout: 'ignore',
    stderr: 'ignore',
  })
  const startup: Diagnostics['startup'] = {
    bytecodeBuild:
      compile.exitCode === 0
        ? { ok: true, binaryMiB: Math.round((Bun.file(bytecodeBinary).size / 2 ** 20) * 10) / 10 }
        : { ok: false, error: compile.stderr.toString().trim().split('\n').slice(-3).join(' | ') },
    versionCommandMs: { standard: [], bytecode: [] },
    startToReadyMs: { standard: [], bytecode: [], bareHonoBinary: [] },
  }
  const env = baseEnv({})
  for (let i = 0; i < startRuns; i++) {
    await waitForQuiet()
    startup.versionCommandMs.standard.push(await timeCommand([ctx.binary, 'version'], ctx.binDir, env))
    const standard = await startServer({
      name: 'binary-external',
      cmd: [ctx.binary, 'serve'],
      cwd: ctx.binDir,
      env: ctx.externalEnv,
      readyPath: '/readyz',
      timeoutMs: 20_000,
    })
    startup.startToReadyMs.standard.push(standard.readyMs)
    await stopProcess(standard.child)
    if (startup.bytecodeBuild.ok) {
      startup.versionCommandMs.bytecode.push(await timeCommand([bytecodeBinary, 'version'], ctx.binDir, env))
      const bytecode = await startServer({
        name: 'binary-bytecode',
        cmd: [bytecodeBinary, 'serve'],
        cwd: ctx.binDir,
        env: ctx.externalEnv,
        readyPath: '/readyz',
        timeoutMs: 20_000,
      })
      startup.startToReadyMs.bytecode.push(bytecode.readyMs)
      await stopProcess(bytecode.child)
    }
    if (existsSync(bareBinary)) {
      const bare = await startServer({
        name: 'bare-hono-binary',
        cmd: [bareBinary],
        cwd: ctx.binDir,
        env: (port) => baseEnv({ PORT: String(port) }),
        readyPath: '/',
        timeoutMs: 10_000,
      })
      startup.startToReadyMs.bareHonoBinary.push(bare.readyMs)
      await stopProcess(bare.child)
    }
  }
  return { ablation, startup }
}

async function main() {
  ensureDebianCommand('wrk', 'wrk')
  const startedAt = new Date()
  const loadBefore = loadavg()
  const host = machine()
  // The orchestrator (and the PostgreSQL/Redis it starts) share CPU 1 with wrk; CPU 0 is the server's.
  Bun.spawnSync(['taskset', '-a', '-c', '-p', clientCpu, String(process.pid)], { stdout: 'ignore' })

  process.stderr.write('building (bash scripts/build.sh)...\n')
  const buildStarted = performance.now()
  const build = Bun.spawnSync(['bash', 'scripts/build.sh'], { cwd: root, stdout: 'pipe', stderr: 'pipe' })
  if (build.exitCode !== 0)
    throw new Error(`build failed:\n${build.stdout.toString()}\n${build.stderr.toString()}`)
  const buildSeconds = (performance.now() - buildStarted) / 1000
  const binDir = join(work, 'bin')
  mkdirSync(binDir)
  const binary = join(binDir, 'pganalytics')
  copyFileSync(join(root, 'dist', 'pganalytics'), binary)
  Bun.spawnSync(['chmod', '755', binary])
  const binaryMiB = Bun.file(binary).size / 2 ** 20

  process.stderr.write('starting PostgreSQL and Redis...\n')
  const pg = await startPostgres()
  onCleanup('postgres', () => pg.stop())
  const redis = await startRedis()
  onCleanup('redis', () => redis.stop())
  const databaseUrl = await createTestDatabase(pg.url, 'pga_bench')
  const masterKey = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64')
  process.stderr.write(
    `  PostgreSQL ${pg.version} on 127.0.0.1:${pg.port}, Redis on 127.0.0.1:${redis.port}\n`,
  )
  const externalEnv = (port: number) =>
    baseEnv({
      DATABASE_URL: databaseUrl,
      REDIS_URL: redis.url,
      PGA_MASTER_KEY: masterKey,
      PGA_PORT: String(port),
      PGA_LOG_LEVEL: 'warn',
    })
  const dataDir = join(work, 'embedded-data')
  const embeddedEnv = (port: number) =>
    baseEnv({ PGA_DATA_DIR: dataDir, PGA_PORT: String(port), PGA_LOG_LEVEL: 'warn' })
  const binaryServer = (name: string, env: (port: number) => Record<string, string>, timeoutMs = 20_000) =>
    startServer({ name, cmd: [binary, 'serve'], cwd: binDir, env, readyPath: '/readyz', timeoutMs })

  // 1. Start-to-ready with external stores. The first start migrates the fresh database.
  process.stderr.write(
    `start-to-ready, external PostgreSQL + Redis (1 migrating start + ${startRuns} runs)...\n`,
  )
  const migrating = await binaryServer('binary-external', externalEnv)
  await stopProcess(migrating.child)
  const externalStarts: number[] = []
  for (let i = 0; i < startRuns; i++) {
    await waitForQuiet()
    const server = await binaryServer('binary-external', externalEnv)
    externalStarts.push(server.readyMs)
    await stopProcess(server.child)
  }

  // Process start + module evaluation, no I/O: `pganalytics version`.
  const versionCommandRuns: number[] = []
  for (let i = 0; i < startRuns; i++) {
    versionCommandRuns.push(await timeCommand([binary, 'version'], binDir, baseEnv({})))
  }

  // 2. Load on the binary (external stores) and on bare Hono, alternating.
  process.stderr.write('load: binary (external stores) and bare Hono on Bun...\n')
  const service = await binaryServer('binary-external', externalEnv)
  const serviceIdle = await idleRss(service)
  const version = (await (await fetch(`${service.base}/api/v1/version`)).json()) as Record<string, string>
  const bare = await startServer({
    name: 'bare-hono',
    cmd: [join(root, 'node_modules', '.bin', 'bun'), join(root, 'bench', 'bare-hono.ts')],
    cwd: root,
    env: (port) => baseEnv({ PORT: String(port) }),
    readyPath: '/',
    timeoutMs: 10_000,
  })
  const bareIdle = await idleRss(bare)
  const binLivez = await load('binary GET /livez', service, '/livez')
  const bareGet = await load('bare Hono GET /', bare, '/')
  const binPost = await load('binary POST /api/v1/config/check', service, '/api/v1/config/check', {
    body: postBody,
  })
  const barePost = await load('bare Hono POST /json', bare, '/json', { body: postBody })
  const binVersion = await load('binary GET /api/v1/version', service, '/api/v1/version')
  const serviceHwm = procStatus(service.pid, 'VmHWM') ?? Number.NaN
  // The runs above loaded one capability (the config check's, src/serving-app.ts); a dashboard
  // replica also holds instances; a request to each capability loads the whole API.
  await fetch(`${service.base}/api/v1/instances`).then((r) => r.arrayBuffer())
  const serviceApiLoaded = await idleRss(service)
  for (const { method, path } of oneRequestPerCapability('p1'))
    await fetch(`${service.base}${path}`, { method }).then((r) => r.arrayBuffer())
  const serviceWholeApi = await idleRss(service)
  await stopProcess(service.child)
  await stopProcess(bare.child)

  // 3. Embedded defaults: PGlite in a temp data dir, in-memory state.
  process.stderr.write(`embedded store: first start (initdb) + ${reopenRuns} reopens...\n`)
  await waitForQuiet()
  const first = await binaryServer('binary-embedded', embeddedEnv, 150_000)
  const embeddedFirstIdle = await idleRss(first)
  const embeddedFirstHwm = procStatus(first.pid, 'VmHWM') ?? Number.NaN
  await stopProcess(first.child)
  const reopens: number[] = []
  let embedded: Server | undefined
  for (let i = 0; i < reopenRuns; i++) {
    await waitForQuiet()
    embedded = await binaryServer('binary-embedded', embeddedEnv, 60_000)
    reopens.push(embedded.readyMs)
    if (i < reopenRuns - 1) await stopProcess(embedded.child)
  }
  if (!embedded) throw new Error('no embedded run')
  const embeddedIdle = await idleRss(embedded)
  const shortSeconds = Math.min(5, loadSeconds)
  const embLivez = await load('embedded GET /livez', embedded, '/livez', { seconds: shortSeconds })
  const embPost = await load('embedded POST /api/v1/config/check', embedded, '/api/v1/config/check', {
    body: postBody,
    seconds: shortSeconds,
  })
  const embeddedHwm = procStatus(embedded.pid, 'VmHWM') ?? Number.NaN
  await stopProcess(embedded.child)

  // 4. Node build, same environment as the binary with external stores.
  process.stderr.write('Node build (node dist/node/main.js serve)...\n')
  const nodeServer = await startServer({
    name: 'node',
    cmd: ['node', join(root, 'dist', 'node', 'main.js'), 'serve'],
    cwd: root,
    env: externalEnv,
    readyPath: '/readyz',
    timeoutMs: 20_000,
  })
  const nodeIdle = await idleRss(nodeServer)
  const nodeLivez = await load('node GET /livez', nodeServer, '/livez', { seconds: shortSeconds })
  const nodePost = await load('node POST /api/v1/config/check', nodeServer, '/api/v1/config/check', {
    body: postBody,
    seconds: shortSeconds,
  })
  const nodeHwm = procStatus(nodeServer.pid, 'VmHWM') ?? Number.NaN
  await stopProcess(nodeServer.child)

  // 5. In-process breakdown, pinned to the server CPU, with nothing else running.
  process.stderr.write('in-process breakdown (bench/http-breakdown.ts)...\n')
  const breakdown = await runBreakdownPinned()

  // 6. Optional diagnostics.
  const diagnostics =
    process.env.BENCH_DIAGNOSE === '1' ? await diagnose({ binary, binDir, externalEnv }) : undefined
  const loadAfter = loadavg()

  // ---- Results.
  const loads = [binLivez, binPost, binVersion, bareGet, barePost, nodeLivez, nodePost, embLivez, embPost]
  const postRatio = binPost.rps / barePost.rps
  const postCpuRatio = barePost.serverCpuUsPerRequest / binPost.serverCpuUsPerRequest
  const startMedian = median(externalStarts)
  const peak = (...runs: LoadResult[]) => Math.max(...runs.map((r) => r.peakRssMiB))
  const round1 = (n: number) => Math.round(n * 10) / 10
  const results = {
    date: startedAt.toISOString(),
    command: [
      ...['BENCH_SECONDS', 'BENCH_DIAGNOSE']
        .filter((v) => process.env[v])
        .map((v) => `${v}=${process.env[v]}`),
      'node_modules/.bin/bun bench/http.ts',
    ].join(' '),
    machine: { ...host, loadAverage: { before: loadBefore.map(round1), after: loadAfter.map(round1) } },
    build: { seconds: round1(buildSeconds), binaryMiB: round1(binaryMiB), service: version },
    settings: {
      loadGenerator: 'wrk -t1 (bench/wrk-report.lua)',
      connections,
      warmupSeconds,
      loadSeconds,
      shortLoadSeconds: shortSeconds,
      serverCpu: Number(serverCpu),
      clientCpu: Number(clientCpu),
      postBody,
      quietWait: {
        thresholdPercent: quietThresholdPercent,
        budgetMs: quietBudgetTotalMs,
        waitedMs: Math.round(quietness.waitedMs),
      },
    },
    load: loads,
    startToReady: {
      binaryExternal: {
        migratingFirstStartMs: round1(migrating.readyMs),
        runsMs: externalStarts.map(round1),
        medianMs: round1(startMedian),
        minMs: round1(Math.min(...externalStarts)),
        maxMs: round1(Math.max(...externalStarts)),
      },
      binaryEmbedded: {
        firstStartMs: round1(first.readyMs),
        reopenRunsMs: reopens.map(round1),
        reopenMedianMs: round1(median(reopens)),
      },
      nodeExternal: { ms: round1(nodeServer.readyMs) },
      versionCommand: {
        runsMs: versionCommandRuns.map(round1),
        medianMs: round1(median(versionCommandRuns)),
      },
    },
    memoryMiB: {
      binaryExternal: {
        idle: round1(serviceIdle),
        apiLoaded: round1(serviceApiLoaded),
        wholeApi: round1(serviceWholeApi),
        peakUnderLoad: peak(binLivez, binPost),
        hwm: round1(serviceHwm),
      },
      binaryEmbeddedFirstStart: { idle: round1(embeddedFirstIdle), hwm: round1(embeddedFirstHwm) },
      binaryEmbeddedReopen: {
        idle: round1(embeddedIdle),
        peakUnderLoad: peak(embLivez, embPost),
        hwm: round1(embeddedHwm),
      },
      nodeExternal: {
        idle: round1(nodeIdle),
        peakUnderLoad: peak(nodeLivez, nodePost),
        hwm: round1(nodeHwm),
      },
      bareHono: { idle: round1(bareIdle), peakUnderLoad: peak(bareGet, barePost) },
    },
    ratios: {
      postThroughputValidatedOverBare: Math.round(postRatio * 1000) / 1000,
      postCpuPerRequestBareOverValidated: Math.round(postCpuRatio * 1000) / 1000,
      livezOverBareGet: Math.round((binLivez.rps / bareGet.rps) * 1000) / 1000,
      nodeOverBunLivez: Math.round((nodeLivez.rps / binLivez.rps) * 1000) / 1000,
      nodeOverBunPost: Math.round((nodePost.rps / binPost.rps) * 1000) / 1000,
    },
    targets: [
      {
        name: 'POST /api/v1/config/check throughput >= 0.5 x bare Hono POST',
        measured: `${postRatio.toFixed(2)} x`,
        met: postRatio >= targets.postRatioMin,
        detail:
          postRatio >= targets.postRatioMin
            ? `${fmtInt(binPost.rps)} vs ${fmtInt(barePost.rps)} req/s`
            : `${fmtInt(binPost.rps)} vs ${fmtInt(barePost.rps)} req/s; needs ${fmtInt(barePost.rps * targets.postRatioMin)} req/s, ${((targets.postRatioMin / postRatio - 1) * 100).toFixed(0)} % more`,
      },
      {
        name: 'start-to-ready median < 150 ms (binary, external PostgreSQL + Redis)',
        measured: `${startMedian.toFixed(1)} ms`,
        met: startMedian < targets.startMedianMs,
        detail: `min ${Math.min(...externalStarts).toFixed(0)}, max ${Math.max(...externalStarts).toFixed(0)} ms over ${startRuns} runs`,
      },
      {
        name: 'idle RSS < 80 MiB (binary, external PostgreSQL + Redis)',
        measured: `${serviceIdle.toFixed(1)} MiB`,
        met: serviceIdle < targets.idleRssMiB,
        detail:
          serviceIdle < targets.idleRssMiB
            ? 'ready + 1 s'
            : `${(serviceIdle - targets.idleRssMiB).toFixed(1)} MiB over`,
      },
    ],
    breakdownUsPerRequest: breakdown,
    ...(diagnostics ? { diagnostics } : {}),
  }

  mkdirSync(join(root, 'bench', 'results'), { recursive: true })
  writeFileSync(join(root, 'bench', 'results', 'http-latest.json'), `${JSON.stringify(results, null, 2)}\n`)

  const m = results.machine
  const out: string[] = []
  out.push(`pgAnalytics HTTP benchmark, ${results.date}`)
  out.push(
    `command: ${results.command}   (build: bash scripts/build.sh, ${fmt(buildSeconds)} s; binary ${fmt(binaryMiB)} MiB)`,
  )
  out.push(`service: ${version.version} ${version.revision} (${version.runtime})`)
  out.push(
    `machine: ${m.nproc} CPUs, ${m.cpu}, ${m.memoryGiB} GiB RAM, Linux ${m.kernel}; bun ${m.bun}, node ${m.node}, ${m.wrk}`,
  )
  out.push(
    `load average before/after: ${loadBefore.map((n) => n.toFixed(2)).join(' ')} / ${loadAfter.map((n) => n.toFixed(2)).join(' ')}`,
  )
  out.push('')
  out.push(
    `Throughput and latency: wrk -t1 -c${connections}, ${warmupSeconds} s warm-up then ${loadSeconds} s (node and embedded: ${shortSeconds} s); server on CPU ${serverCpu}, wrk on CPU ${clientCpu}`,
  )
  out.push(
    table(
      [
        'target',
        'req/s',
        'p50 ms',
        'p99 ms',
        'errors',
        'server CPU %',
        'CPU µs/req',
        'wrk CPU %',
        'other CPU %',
        'peak RSS MiB',
      ],
      loads.map((r) => [
        r.target,
        fmtInt(r.rps),
        fmt(r.p50Ms, 2),
        fmt(r.p99Ms, 2),
        String(r.errors + r.non2xx),
        fmt(r.serverCpuPercent, 0),
        fmt(r.serverCpuUsPerRequest),
        fmt(r.wrkCpuPercent, 0),
        fmt(r.otherCpuPercent, 0),
        fmt(r.peakRssMiB),
      ]),
      [1, 2, 3, 4, 5, 6, 7, 8, 9],
    ),
  )
  const disturbed = loads.filter((r) => r.otherCpuPercent > 10)
  out.push(
    `waited ${fmt(quietness.waitedMs / 1000)} s in total for the machine to go idle (budget ${quietBudgetTotalMs / 1000} s); runs where other processes used > 10 % of a CPU: ${disturbed.length ? disturbed.map((r) => r.target).join(', ') : 'none'}`,
  )
  out.push(
    '(CPU % are of one CPU; "other" = CPU time used by neither the server nor wrk, softirq excluded: other workloads on the machine, this script, PostgreSQL, Redis.)',
  )
  out.push(
    `ratios: validated POST / bare POST = ${postRatio.toFixed(2)} (CPU per request: ${postCpuRatio.toFixed(2)}); livez / bare GET = ${results.ratios.livezOverBareGet.toFixed(2)}; node / bun: livez ${results.ratios.nodeOverBunLivez.toFixed(2)}, POST ${results.ratios.nodeOverBunPost.toFixed(2)}`,
  )
  out.push('')
  out.push('Start-to-ready (spawn -> first 200 on /readyz, polled every 5 ms; server pinned to CPU 0)')
  const range = (runs: number[]) => `${fmt(Math.min(...runs), 0)} / ${fmt(Math.max(...runs), 0)}`
  out.push(
    table(
      ['mode', 'runs', 'median ms', 'min / max ms'],
      [
        [
          'binary, external PostgreSQL + Redis',
          String(startRuns),
          fmt(startMedian, 0),
          range(externalStarts),
        ],
        ['binary, external, first start (migrations)', '1', fmt(migrating.readyMs, 0), ''],
        ['binary, embedded PGlite, first start (initdb)', '1', fmt(first.readyMs, 0), ''],
        ['binary, embedded PGlite, reopen', String(reopenRuns), fmt(median(reopens), 0), range(reopens)],
        ['node dist/node/main.js, external', '1', fmt(nodeServer.readyMs, 0), ''],
        [
          '`pganalytics version` (no I/O: exec + module evaluation)',
          String(startRuns),
          fmt(median(versionCommandRuns), 0),
          range(versionCommandRuns),
        ],
      ],
      [1, 2, 3],
    ),
  )
  out.push('')
  out.push(
    'Memory (VmRSS; idle = ready + 1 s, probes only; peak = sampled every 50 ms during the livez + POST runs; HWM = VmHWM at the end)',
  )
  const mem = results.memoryMiB
  out.push(
    table(
      ['process', 'idle MiB', 'peak under load MiB', 'HWM MiB'],
      [
        [
          'binary, external PostgreSQL + Redis',
          fmt(mem.binaryExternal.idle),
          fmt(mem.binaryExternal.peakUnderLoad),
          fmt(mem.binaryExternal.hwm),
        ],
        [
          'binary, external, config check and instances loaded (after the runs) + 1 s',
          fmt(mem.binaryExternal.apiLoaded),
          '',
          '',
        ],
        [
          'binary, external, every capability loaded (one request each) + 1 s',
          fmt(mem.binaryExternal.wholeApi),
          '',
          '',
        ],
        [
          'binary, embedded, after first start',
          fmt(mem.binaryEmbeddedFirstStart.idle),
          '',
          fmt(mem.binaryEmbeddedFirstStart.hwm),
        ],
        [
          'binary, embedded, reopened',
          fmt(mem.binaryEmbeddedReopen.idle),
          fmt(mem.binaryEmbeddedReopen.peakUnderLoad),
          fmt(mem.binaryEmbeddedReopen.hwm),
        ],
        [
          'node, external',
          fmt(mem.nodeExternal.idle),
          fmt(mem.nodeExternal.peakUnderLoad),
          fmt(mem.nodeExternal.hwm),
        ],
        ['bare Hono on bun', fmt(mem.bareHono.idle), fmt(mem.bareHono.peakUnderLoad), ''],
      ],
      [1, 2, 3],
    ),
  )
  out.push('')
  out.push('Targets')
  out.push(
    table(
      ['target', 'measured', 'verdict'],
      results.targets.map((t) => [t.name, t.measured, verdict(t.met, t.detail)]),
    ),
  )
  out.push('')
  out.push('In-process cost per request (bench/http-breakdown.ts, no sockets, CPU 0, median of 5 batches)')
  if (Array.isArray(breakdown)) {
    out.push(
      table(
        ['piece', 'µs/req', 'what'],
        breakdown.map((r) => [r.name, fmt(r.usPerOp, 2), r.note]),
        [1],
      ),
    )
  } else {
    out.push(`  breakdown failed: ${breakdown.error}`)
  }
  if (diagnostics) {
    out.push('')
    out.push(
      `Diagnostics (BENCH_DIAGNOSE=1): the request path piece by piece over HTTP (bench/http-ablation.ts, ${warmupSeconds} s warm-up + 4 s)`,
    )
    out.push(
      table(
        ['runtime', 'variant', 'what', 'req/s', 'p99 ms', 'server CPU %', 'CPU µs/req', 'other CPU %'],
        diagnostics.ablation.map((r) => [
          r.runtime,
          r.variant,
          r.what,
          fmtInt(r.rps),
          fmt(r.p99Ms, 2),
          fmt(r.serverCpuPercent, 0),
          fmt(r.serverCpuUsPerRequest),
          fmt(r.otherCpuPercent, 0),
        ]),
        [3, 4, 5, 6, 7],
      ),
    )
    const st = diagnostics.startup
    const row = (name: string, runs: number[]) => [
      name,
      String(runs.length),
      runs.length ? fmt(median(runs), 0) : 'n/a',
      runs.length ? range(runs) : '',
    ]
    out.push('')
    out.push(
      `Diagnostics: start-up, interleaved runs (bytecode build: ${st.bytecodeBuild.ok ? `ok, ${st.bytecodeBuild.binaryMiB} MiB` : `failed: ${st.bytecodeBuild.error}`})`,
    )
    out.push(
      table(
        ['what', 'runs', 'median ms', 'min / max ms'],
        [
          row('`version`, binary as built by scripts/build.sh', st.versionCommandMs.standard),
          row('`version`, same source built with --bytecode --format=esm', st.versionCommandMs.bytecode),
          row('start-to-ready, binary as built', st.startToReadyMs.standard),
          row('start-to-ready, --bytecode build', st.startToReadyMs.bytecode),
          row('start-to-ready, compiled bare Hono (GET /)', st.startToReadyMs.bareHonoBinary),
        ],
        [1, 2, 3],
      ),
    )
  }
  out.push('')
  out.push(`JSON: bench/results/http-latest.json`)
  process.stdout.write(`${out.join('\n')}\n`)
}

await runBench('bench/http.ts', main, cleanup, watchdogMs)
