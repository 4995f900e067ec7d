// Collector benchmark: one service process collecting N monitored instances. It PRINTS figures (a
// table and a one-line JSON summary, the line starting with `JSON `); it never passes or fails on
// them. What it does:
//   1. copies src/, migrations/ and package.json to a temp directory (node_modules linked) and runs
//      the service from there, so edits to the working tree during a run cannot mix two versions;
//   2. starts --clusters throwaway PostgreSQL 15 clusters (test/harness/postgres.ts; 1 by default).
//      The first also holds the service's store (database pga_store). Each simulated instance is a
//      database (bench_0001, plus --databases - 1 application databases bench_0001_app1, ...) on
//      cluster (i - 1) % clusters, copied from a template with three small tables and
//      pg_stat_statements. The instances log in as pga_bench, a role with only pg_monitor, on
//      127.0.0.1 with sslmode --sslmode (prefer: TLS, the server offers it);
//   3. runs `bun src/main.ts serve` with the collector off and adds the N instances through
//      POST /api/v1/instances?test=false: every group every --interval seconds, the per-database
//      groups limited to the instance's own databases; then stops that process;
//   4. measures an idle baseline: CPU of every PostgreSQL process for --seconds, no service;
//   5. starts the service again with the collector on (PGA_COLLECTOR_CONCURRENCY=--concurrency).
//      Every instance is taken in the first tick, so every instance's groups fall due together
//      every --interval seconds (a round). After every instance has had its first round (warm-up:
//      full settings, query texts), a window of --seconds (whole intervals, starting half an
//      interval after a round) is measured: snapshots stored (sn_stat_snapshot rows by taken_at),
//      CPU of the service process (/proc/<pid>/stat) and of the PostgreSQL processes (split with
//      pg_stat_activity into the collector's connections, the store's, background processes, and
//      processes that exited in the window: per-database collector connections, autovacuum),
//      RSS, fetch duration (duration_ms) per group, failures by error code, lag (/metrics), how
//      long each round took, and the service's CPU between rounds (scheduler upkeep);
//   6. extrapolates: instances one core sustains at a 60 s interval = 60 s / service CPU per
//      instance-round, and the instances a round pass finishes in 60 s at --concurrency.
// On one cluster every instance-scope query sees all N × --databases databases (sizes in the
// database and storage groups, rows in database and activity), so the monitored side costs grow
// with N; --clusters spreads the instances to keep that closer to one real server per instance.
// Only 127.0.0.1; every process it starts is stopped by PID, also on error or Ctrl-C.
// Run from the repository root:
//   node_modules/.bin/bun bench/collector.ts [--instances 50] [--seconds 60] [--interval 15]
//     [--concurrency 16] [--databases 2] [--clusters 1] [--sslmode prefer]
//     [--service-env 'K=V ...']   (more environment for the collecting service, e.g. BUN_JSC_useJIT=0)
// About 2 × --seconds plus one to two minutes of setup and warm-up.
// `--scenario large-server` runs bench/collector-large-server.ts instead (one cluster with very
// many tables, a few of them locked; per-group cost against a 1,000-table database).
import { randomBytes } from 'node:crypto'
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, symlinkSync, unlinkSync } from 'node:fs'
import { cpus, loadavg, release, totalmem, userInfo } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import type { Subprocess } from 'bun'
import postgres from 'postgres'
import { metricGroups } from '../src/collector/catalog/index.ts'
import { startPostgres } from '../test/harness/postgres.ts'
import { freePort, run } from '../test/harness/processes.ts'
import {
  benchProcesses,
  clockTicks,
  databaseUrl,
  envPairs,
  fmt,
  fmtInt,
  logTail,
  machineBusyPercent,
  machineTicks,
  procStatus,
  quietWaiter,
  round,
  runBench,
  sleep,
  table,
  waitForReady,
} from './support.ts'

const root = resolve(import.meta.dir, '..')
const bun = join(root, 'node_modules', '.bin', 'bun')

// ---------------------------------------------------------------------------------------------
// Options.

type Options = {
  instances: number
  seconds: number
  interval: number
  concurrency: number
  databases: number
  clusters: number
  sslmode: 'disable' | 'prefer' | 'require'
  /** --service-env 'K=V K=V': more environment for the collecting service (e.g. BUN_JSC_useJIT=0). */
  serviceEnv: Record<string, string>
}

function parseOptions(argv: string[]): Options {
  const values = new Map<string, string>()
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg)
    if (!match) throw new Error(`unexpected argument ${arg}`)
    const value = match[2] ?? argv[++i]
    if (value === undefined) throw new Error(`${arg} needs a value`)
    values.set(match[1] as string, value)
  }
  const known = [
    'instances',
    'seconds',
    'interval',
    'concurrency',
    'databases',
    'clusters',
    'sslmode',
    'service-env',
  ]
  for (const name of values.keys()) if (!known.includes(name)) throw new Error(`unknown option --${name}`)
  const int = (name: string, fallback: number, min: number, max: number) => {
    const text = values.get(name)
    const n = text === undefined ? fallback : Number(text)
    if (!Number.isInteger(n) || n < min || n > max)
      throw new Error(`--${name} must be an integer between ${min} and ${max}`)
    return n
  }
  const sslmode = values.get('sslmode') ?? 'prefer'
  if (!['disable', 'prefer', 'require'].includes(sslmode))
    throw new Error('--sslmode must be disable, prefer or require')
  const interval = int('interval', 15, 5, 300)
  // The window covers whole intervals, so every round inside it is counted once.
  const seconds = Math.max(1, Math.round(int('seconds', 60, 5, 3600) / interval)) * interval
  const instances = int('instances', 50, 1, 1000)
  return {
    instances,
    seconds,
    interval,
    concurrency: int('concurrency', 16, 1, 1000),
    databases: int('databases', 2, 1, 20),
    clusters: int('clusters', 1, 1, Math.min(20, instances)),
    sslmode: sslmode as Options['sslmode'],
    serviceEnv: envPairs(values.get('service-env') ?? '', '--service-env'),
  }
}

// ---------------------------------------------------------------------------------------------
// Processes: everything started here is stopped by PID in `cleanup`.

const processes = benchProcesses('bench-collector')
const work = processes.work
const stopProcess = processes.stop
const cleanup = processes.cleanup
const onCleanup = (c: { name: string; run: () => Promise<unknown> }) =>
  processes.onCleanup(c.name, async () => {
    await c.run()
  })

// ---------------------------------------------------------------------------------------------
// /proc readings.

type ProcStat = { ppid: number; cpu: number; reaped: number }

/** CPU seconds of a process (user + system, all threads) and of its exited, reaped children. */
function procStat(pid: number): ProcStat | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number)
    const at = (i: number) => f[i] ?? 0
    return { ppid: at(1), cpu: (at(11) + at(12)) / clockTicks, reaped: (at(13) + at(14)) / clockTicks }
  } catch {
    return undefined
  }
}

/** Another workload on the machine skews durations (not CPU times): wait, within a budget, until
 * the machine is nearly idle (under 25 % of one CPU over a second). */
const waitForQuiet = (budgetMs: number) =>
  quietWaiter({ budgetMs, thresholdPercent: 25, sampleMs: 1000 }).wait()

/** Every PostgreSQL process of the clusters: the postmasters (their own CPU and that of their
 * exited children, which lands in cutime/cstime) and each live child's CPU. */
type ServerCpu = { own: number; reaped: number; children: Map<number, number> }

function serverCpu(postmasters: number[]): ServerCpu {
  const result: ServerCpu = { own: 0, reaped: 0, children: new Map() }
  for (const pid of postmasters) {
    const main = procStat(pid)
    if (!main) throw new Error(`postmaster ${pid} is gone`)
    result.own += main.cpu
    result.reaped += main.reaped
  }
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const stat = procStat(Number(entry))
    if (stat && postmasters.includes(stat.ppid)) result.children.set(Number(entry), stat.cpu)
  }
  return result
}

const categories = ['collector', 'store', 'background', 'exited', 'other'] as const
type Category = (typeof categories)[number]
type CpuSplit = Record<Category, number> & { total: number }

/** CPU seconds of the server between two readings, split by who used it. */
function serverCpuDelta(a: ServerCpu, b: ServerCpu, categoryOf: (pid: number) => Category): CpuSplit {
  const split: CpuSplit = { collector: 0, store: 0, background: b.own - a.own, exited: 0, other: 0, total: 0 }
  for (const [pid, cpu] of b.children) split[categoryOf(pid)] += cpu - (a.children.get(pid) ?? 0)
  let vanished = 0
  for (const [pid, cpu] of a.children) if (!b.children.has(pid)) vanished += cpu
  split.exited = b.reaped - a.reaped - vanished
  split.total = categories.reduce((sum, c) => sum + split[c], 0)
  return split
}

type Backend = { pid: number; application_name: string; datname: string | null; backend_type: string }

function categorize(backends: Map<number, Backend>) {
  return (pid: number): Category => {
    const b = backends.get(pid)
    if (!b) return 'background'
    if (b.application_name === 'pganalytics collector') return 'collector'
    if (b.application_name === admin.applicationName) return 'other'
    if (b.datname === 'pga_store') return 'store'
    if (b.backend_type !== 'client backend') return 'background'
    return 'other'
  }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL setup.

const admin = { applicationName: 'pga bench' }
type Sql = postgres.Sql

function connect(url: string, database: string, max = 1): Sql {
  return postgres(databaseUrl(url, database), {
    max,
    onnotice: () => {},
    connection: { application_name: admin.applicationName },
  })
}

/** startPostgres passes max_connections=200 on the command line; a restart with the same
 * options (postmaster.opts) and another value is the only way to raise it. */
async function raiseMaxConnections(sql: Sql, value: number): Promise<void> {
  const [row] = await sql<{ data_directory: string }[]>`show data_directory`
  const dataDir = (row as { data_directory: string }).data_directory
  const saved = readFileSync(join(dataDir, 'postmaster.opts'), 'utf8').trim()
  const args = [...saved.matchAll(/"([^"]*)"/g)].map((m) => m[1] as string)
  const options: string[] = []
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '-D') {
      i++
      continue
    }
    options.push((args[i] as string).replace(/^max_connections=\d+$/, `max_connections=${value}`))
  }
  const pgCtl = join(dirname(saved.split(' ')[0] as string), 'pg_ctl')
  const ctlArgs = [
    '-D',
    dataDir,
    '-o',
    options.join(' '),
    '-l',
    join(dirname(dataDir), 'server.log'),
    '-w',
    '-t',
    '60',
    'restart',
  ]
  if (userInfo().uid === 0) await run('runuser', ['-u', 'postgres', '--', pgCtl, ...ctlArgs])
  else await run(pgCtl, ctlArgs)
}

function databaseNames(instance: number, perInstance: number): string[] {
  const main = `bench_${String(instance).padStart(4, '0')}`
  return [main, ...Array.from({ length: perInstance - 1 }, (_, j) => `${main}_app${j + 1}`)]
}

/** On one cluster: the monitoring role, a template with three small tables (rows, secondary
 * indexes, statistics) and pg_stat_statements, and the databases of its instances copied from it. */
async function createDatabases(url: string, instances: number[], databases: number): Promise<void> {
  const sql = connect(url, 'postgres')
  await sql`create role pga_bench login in role pg_monitor`
  await sql`create database bench_template`
  const template = connect(url, 'bench_template')
  await template.unsafe(`
    create extension pg_stat_statements;
    create table customers (id int primary key, name text not null, created timestamptz not null default now());
    create table orders (id bigserial primary key, customer int not null references customers, amount numeric(12,2),
                         placed timestamptz not null default now());
    create index on orders (customer);
    create table events (id bigserial primary key, kind text not null, payload jsonb);
    create index on events (kind);
    insert into customers (id, name) select g, 'customer ' || g from generate_series(1, 1000) g;
    insert into orders (customer, amount) select 1 + g % 1000, g % 97 from generate_series(1, 5000) g;
    insert into events (kind, payload) select 'kind' || g % 10, jsonb_build_object('n', g) from generate_series(1, 2000) g;
  `)
  await template.unsafe('vacuum analyze')
  await template.end()
  for (const i of instances) {
    for (const name of databaseNames(i, databases)) {
      await sql.unsafe(`create database ${name} template bench_template strategy = file_copy`)
    }
  }
  await sql`checkpoint`
  await sql.end()
}

// ---------------------------------------------------------------------------------------------
// The service.

/** The service runs from a copy of src/, migrations/, openapi/ (src/runtime/bun.ts serves the
 * committed document) and package.json taken when the bench starts (node_modules linked), so
 * edits to the working tree during a run cannot mix two versions. */
function snapshotTree(): string {
  const tree = join(work, 'tree')
  for (const entry of ['src', 'migrations', 'openapi', 'package.json', 'tsconfig.json', 'bunfig.toml']) {
    cpSync(join(root, entry), join(tree, entry), { recursive: true })
  }
  symlinkSync(join(root, 'node_modules'), join(tree, 'node_modules'))
  onCleanup({ name: 'source copy', run: async () => unlinkSync(join(tree, 'node_modules')) })
  return tree
}

type Service = { child: Subprocess; pid: number; base: string; log: string; readyMs: number }

async function startService(tree: string, name: string, env: Record<string, string>): Promise<Service> {
  const port = await freePort()
  const log = join(work, `${name}.log`)
  const started = performance.now()
  const child = Bun.spawn([bun, 'src/main.ts', 'serve'], {
    cwd: tree,
    env: {
      PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
      HOME: work,
      LANG: 'C.UTF-8',
      PGA_PORT: String(port),
      ...env,
    },
    stdin: 'ignore',
    stdout: Bun.file(log),
    stderr: Bun.file(`${log}.err`),
  })
  processes.track(child)
  const base = `http://127.0.0.1:${port}`
  try {
    const readyMs = await waitForReady(`${base}/readyz`, {
      startedAt: started,
      child,
      describe: () => `${name}\n${logTail(log)}`,
    })
    return { child, pid: child.pid, base, log, readyMs }
  } catch (error) {
    await stopProcess(child)
    throw error
  }
}

async function addInstances(
  service: Service,
  token: string,
  portOf: (instance: number) => number,
  options: Options,
): Promise<void> {
  const intervals = Object.fromEntries(metricGroups.map((g) => [g.name, options.interval]))
  let next = 1
  const worker = async () => {
    while (next <= options.instances) {
      const i = next++
      const [main] = databaseNames(i, 1) as [string]
      const response = await fetch(`${service.base}/api/v1/instances?test=false`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({
          name: `bench-${String(i).padStart(4, '0')}`,
          host: '127.0.0.1',
          port: portOf(i),
          database: main,
          username: 'pga_bench',
          sslmode: options.sslmode,
          intervals,
          includeDatabases: [main, `${main}_*`],
        }),
      })
      const text = await response.text()
      if (response.status !== 201) throw new Error(`POST /api/v1/instances: ${response.status} ${text}`)
    }
  }
  await Promise.all(Array.from({ length: 8 }, worker))
}

/** Histogram buckets of one metric summed over its labels: upper bound → cumulative count. */
function histogram(text: string, name: string): Map<string, number> {
  const sums = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}_bucket{`)) continue
    const le = /le="([^"]+)"/.exec(line)?.[1]
    const value = Number(line.slice(line.lastIndexOf(' ') + 1))
    if (le !== undefined) sums.set(le, (sums.get(le) ?? 0) + value)
  }
  return sums
}

type HistogramDelta = { count: number; quantile(q: number): string; share(le: string): number }

function histogramDelta(before: Map<string, number>, after: Map<string, number>): HistogramDelta {
  const bounds = [...after.keys()].sort((a, b) =>
    a === '+Inf' ? 1 : b === '+Inf' ? -1 : Number(a) - Number(b),
  )
  const cumulative = bounds.map((le) => [le, (after.get(le) ?? 0) - (before.get(le) ?? 0)] as const)
  const count = cumulative.at(-1)?.[1] ?? 0
  return {
    count,
    quantile(q) {
      const hit = cumulative.find(([, n]) => n >= q * count)
      return hit ? (hit[0] === '+Inf' ? `> ${bounds.at(-2)} s` : `≤ ${hit[0]} s`) : 'n/a'
    },
    share(le) {
      const hit = cumulative.find(([bound]) => bound === le)
      return count && hit ? hit[1] / count : Number.NaN
    },
  }
}

async function scrapeMetrics(service: Service): Promise<string> {
  const response = await fetch(`${service.base}/metrics`, { signal: AbortSignal.timeout(5000) })
  return response.text()
}

/** Warnings and errors the service logged, by message. */
function logProblems(log: string): { level: string; msg: string; count: number; example: string }[] {
  const found = new Map<string, { level: string; msg: string; count: number; example: string }>()
  const text = existsSync(log) ? readFileSync(log, 'utf8') : ''
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue
    try {
      const entry = JSON.parse(line) as Record<string, unknown>
      const level = String(entry.level ?? '')
      if (level !== 'warn' && level !== 'error') continue
      // The 503s of /readyz while the service starts are expected.
      if (entry.msg === 'request' && entry.route === '/readyz') continue
      const msg = String(entry.msg ?? entry.message ?? '')
      const key = `${level} ${msg}`
      const seen = found.get(key)
      if (seen) seen.count++
      else found.set(key, { level, msg, count: 1, example: line.slice(0, 300) })
    } catch {
      // not JSON
    }
  }
  return [...found.values()].sort((a, b) => b.count - a.count)
}

// ---------------------------------------------------------------------------------------------
// Printing.

function machine() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8')
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? cpus()[0]?.model ?? 'unknown'
  return {
    nproc: cpus().length,
    cpu: model,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    bun: Bun.version,
  }
}

function revision(): string {
  const rev = Bun.spawnSync(['git', 'rev-parse', '--short', 'HEAD'], { cwd: root }).stdout.toString().trim()
  const dirty = Bun.spawnSync(['git', 'status', '--porcelain', '--', 'src', 'migrations'], { cwd: root })
    .stdout.toString()
    .trim()
  return `${rev || 'unknown'}${dirty ? ' (src/ or migrations/ modified)' : ''}`
}

// ---------------------------------------------------------------------------------------------

type GroupRow = {
  group_name: string
  ok: number
  failed: number
  unavailable: number
  p50: number | null
  p95: number | null
  max: number | null
  rows: number | null
}
type FailureRow = {
  group_name: string
  status: string
  error_code: string | null
  n: number
  example: string
}

const engineGroups = ['bgwriter', 'archiver', 'replication']
const goal = { instancesPerCore: 1000, engineP95Ms: 100 }

async function main(options: Options) {
  const { instances: n, seconds, interval } = options
  const note = (text: string) => process.stderr.write(`${text}\n`)
  const perRound = metricGroups.reduce((sum, g) => sum + (g.scope === 'database' ? options.databases : 1), 0)
  const date = new Date().toISOString().slice(0, 10)
  const loadBefore = loadavg()

  note(
    `collector bench: ${n} instances × ${options.databases} databases on ${options.clusters} cluster(s), every group every ${interval} s`,
  )
  const tree = snapshotTree()
  const rev = revision()
  // Instance i lives on cluster (i - 1) % clusters; the store on the first cluster.
  const clusterOf = (i: number) => (i - 1) % options.clusters
  const perCluster = Math.ceil(n / options.clusters)
  const clusters: { url: string; port: number; postmaster: number; maxConnections: number }[] = []
  const setupStarted = performance.now()
  let pg: Awaited<ReturnType<typeof startPostgres>> | undefined
  for (let c = 0; c < options.clusters; c++) {
    note(`  starting PostgreSQL ${c + 1} of ${options.clusters}`)
    const started = await startPostgres()
    pg ??= started
    onCleanup({
      name: `postgres ${c + 1}`,
      run: async () => {
        await started.stop()
        rmSync(dirname(started.caFile), { recursive: true, force: true })
      },
    })
    let sql = connect(started.url, 'postgres')
    // Collector connections: one per instance, plus one short-lived per running per-database group.
    const needed = perCluster + options.concurrency + 10 + 25
    if (needed > 200) {
      note(`  raising max_connections to ${needed}`)
      await raiseMaxConnections(sql, needed)
      await sql.end()
      sql = connect(started.url, 'postgres')
    }
    const [settings] = await sql<{ data_directory: string; max_connections: number }[]>`
      select current_setting('data_directory') as data_directory,
             current_setting('max_connections')::int as max_connections`
    if (c === 0) await sql`create database pga_store`
    await sql.end()
    const dataDir = settings?.data_directory ?? ''
    clusters.push({
      url: started.url,
      port: started.port,
      postmaster: Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]),
      maxConnections: settings?.max_connections ?? 0,
    })
    const mine = Array.from({ length: n }, (_, i) => i + 1).filter((i) => clusterOf(i) === c)
    note(`  creating ${mine.length * options.databases} databases`)
    await createDatabases(started.url, mine, options.databases)
  }
  if (!pg) throw new Error('no cluster started')
  const setupSeconds = (performance.now() - setupStarted) / 1000
  const postmasters = clusters.map((c) => c.postmaster)
  const maxConnections = Math.min(...clusters.map((c) => c.maxConnections))

  const token = randomBytes(24).toString('hex')
  const env = {
    DATABASE_URL: databaseUrl(pg.url, 'pga_store'),
    PGA_MASTER_KEY: randomBytes(32).toString('base64'),
    PGA_ADMIN_TOKEN: token,
    PGA_LOG_LEVEL: 'warn',
  }

  // Instances are added with the collector off, then the service restarts with it on: every
  // instance is taken in the first tick and its rounds fall on a known phase.
  note('  adding the instances (collector off)')
  const setupService = await startService(tree, 'service-setup', { ...env, PGA_COLLECTOR_ENABLED: 'false' })
  await addInstances(setupService, token, (i) => clusters[clusterOf(i)]?.port ?? 0, options)
  await stopProcess(setupService.child)

  const store = connect(pg.url, 'pga_store', 2)
  onCleanup({ name: 'store connection', run: () => store.end({ timeout: 1 }) })
  const servers = clusters.map((c) => connect(c.url, 'postgres'))
  onCleanup({
    name: 'admin connections',
    run: async () => {
      await Promise.all(servers.map((server) => server.end({ timeout: 1 })))
    },
  })
  const backends = async () => {
    const found = new Map<number, Backend>()
    for (const server of servers) {
      for (const b of await server<Backend[]>`
        select pid, coalesce(application_name, '') as application_name, datname::text, backend_type
          from pg_stat_activity`)
        found.set(b.pid, b)
    }
    return found
  }

  note('  waiting for the machine to go quiet (60 s at most)')
  const quiet = await waitForQuiet(60_000)
  note(`  idle baseline: ${seconds} s of PostgreSQL CPU without the service`)
  const baselineBackends = await backends()
  const baseA = serverCpu(postmasters)
  const baseTicksA = machineTicks()
  await sleep(seconds * 1000)
  const baseB = serverCpu(postmasters)
  const baseTicksB = machineTicks()
  for (const [pid, b] of await backends()) baselineBackends.set(pid, b)
  const baseline = serverCpuDelta(baseA, baseB, categorize(baselineBackends))
  const baselineBusy = machineBusyPercent(baseTicksA, baseTicksB)

  note(`  starting the service (collector on, concurrency ${options.concurrency})`)
  const service = await startService(tree, 'service', {
    ...env,
    PGA_COLLECTOR_ENABLED: 'true',
    PGA_COLLECTOR_CONCURRENCY: String(options.concurrency),
    ...options.serviceEnv,
  })
  const readyRss = procStatus(service.pid, 'VmRSS') ?? Number.NaN

  // Warm-up: the first round of every instance (full settings, query texts). Every instance was
  // taken in the same tick, so rounds start at phase + k × interval; the window starts half an
  // interval after one.
  const intervalMs = interval * 1000
  const warmupDeadline = Date.now() + Math.max(90_000, 4 * intervalMs)
  let firstRound = { done: 0, phase: Date.now(), last: Date.now() }
  while (Date.now() < warmupDeadline) {
    const [row] = await store<{ done: number; phase: Date | null; last: Date | null }[]>`
      select count(*) filter (where rows >= ${perRound})::int as done, min(phase) as phase, max(last) as last
        from (select count(*) as rows, min(taken_at) as phase, max(taken_at) as last
                from sn_stat_snapshot group by instance_id) i`
    firstRound = {
      done: row?.done ?? 0,
      phase: row?.phase?.getTime() ?? Date.now(),
      last: row?.last?.getTime() ?? Date.now(),
    }
    if (firstRound.done >= n) break
    await sleep(250)
  }
  const warmedUp = firstRound.done >= n
  if (!warmedUp) note(`  first round incomplete after warm-up (${firstRound.done} of ${n} instances)`)
  const firstRoundSeconds = (firstRound.last - firstRound.phase) / 1000
  let t0 = firstRound.phase + intervalMs / 2
  while (t0 < Date.now() + 500) t0 += intervalMs
  await sleep(t0 - Date.now())

  note(`  measuring ${seconds} s`)
  const windowStart = new Date()
  const cpuA = procStat(service.pid)?.cpu ?? Number.NaN
  const serverA = serverCpu(postmasters)
  const ticksA = machineTicks()
  const benchA = process.cpuUsage()
  const metricsA = await scrapeMetrics(service)
  const windowBackends = await backends()
  const rssAtStart = procStatus(service.pid, 'VmRSS') ?? Number.NaN
  let peakRss = rssAtStart
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, procStatus(service.pid, 'VmRSS') ?? 0)
  }, 250)
  // Between rounds (the first half of each interval of the window, when the previous round has
  // finished) only the scheduler's own work runs: ticks, lease renewals, instance list refreshes.
  let quietCpu = 0
  let quietSeconds = 0
  const start = windowStart.getTime()
  for (let j = 0; j < seconds / interval; j++) {
    await sleep(start + j * intervalMs - Date.now())
    const a = procStat(service.pid)?.cpu ?? Number.NaN
    const at = performance.now()
    await sleep(start + j * intervalMs + intervalMs / 2 - 300 - Date.now())
    quietCpu += (procStat(service.pid)?.cpu ?? Number.NaN) - a
    quietSeconds += (performance.now() - at) / 1000
  }
  await sleep(start + seconds * 1000 - Date.now())
  clearInterval(sampler)
  const windowEnd = new Date()
  const cpuB = procStat(service.pid)?.cpu ?? Number.NaN
  const serverB = serverCpu(postmasters)
  const ticksB = machineTicks()
  const benchB = process.cpuUsage(benchA)
  const rssAtEnd = procStatus(service.pid, 'VmRSS') ?? Number.NaN
  const hwm = procStatus(service.pid, 'VmHWM') ?? Number.NaN
  const metricsB = await scrapeMetrics(service)
  for (const [pid, b] of await backends()) windowBackends.set(pid, b)
  const wall = (windowEnd.getTime() - windowStart.getTime()) / 1000
  const serviceCpu = cpuB - cpuA
  const benchCpu = (benchB.user + benchB.system) / 1e6
  const serverSplit = serverCpuDelta(serverA, serverB, categorize(windowBackends))
  const machineBusy = machineBusyPercent(ticksA, ticksB)
  const otherCpu = Math.max(0, (machineBusy / 100) * wall - serviceCpu - serverSplit.total - benchCpu)
  const lag = histogramDelta(
    histogram(metricsA, 'pga_collector_lag_seconds'),
    histogram(metricsB, 'pga_collector_lag_seconds'),
  )
  const collect = histogramDelta(
    histogram(metricsA, 'pga_collector_duration_seconds'),
    histogram(metricsB, 'pga_collector_duration_seconds'),
  )
  const collectorConnections = [...windowBackends.values()].filter(
    (b) => b.application_name === 'pganalytics collector' && serverB.children.has(b.pid),
  ).length

  // Let the rounds of the window finish writing before counting (the window ends mid-interval).
  await sleep(1000)
  // Per-database groups are split: the instance's own database (its reused connection) and the
  // application databases (a new connection for each collection).
  const groups = await store<GroupRow[]>`
    select group_name || case when datname like '%\_app%' then ' (app db)'
                              when datname is not null then ' (main db)' else '' end as group_name,
           count(*) filter (where status = 'ok')::int as ok,
           count(*) filter (where status = 'failed')::int as failed,
           count(*) filter (where status = 'unavailable')::int as unavailable,
           percentile_cont(0.5) within group (order by duration_ms) filter (where status = 'ok') as p50,
           percentile_cont(0.95) within group (order by duration_ms) filter (where status = 'ok') as p95,
           max(duration_ms) filter (where status = 'ok') as max,
           avg(row_count) filter (where status = 'ok')::float8 as rows
      from sn_stat_snapshot
     where taken_at >= ${windowStart} and taken_at < ${windowEnd}
     group by 1`
  const failures = await store<FailureRow[]>`
    select group_name, status, error_code, count(*)::int as n, min(left(error, 160)) as example
      from sn_stat_snapshot
     where taken_at >= ${windowStart} and taken_at < ${windowEnd} and status <> 'ok'
     group by 1, 2, 3
     order by 4 desc, 1`
  // How long each round of the window took: from its first fetch to its last. Round j falls in
  // the middle of the j-th interval of the window (the window starts half an interval after one).
  const takenAt = (
    await store<{ ms: number }[]>`
      select extract(epoch from taken_at)::float8 * 1000 as ms from sn_stat_snapshot
       where taken_at >= ${windowStart} and taken_at < ${windowEnd}`
  ).map((r) => r.ms)
  const spans = Array.from({ length: seconds / interval }, (_, j) => {
    const inRound = takenAt.filter((ms) => ms >= start + j * intervalMs && ms < start + (j + 1) * intervalMs)
    return inRound.length ? (Math.max(...inRound) - Math.min(...inRound)) / 1000 : 0
  })
  // Rounds per instance: the scheduler starts due instances in a fixed order, so when it cannot
  // keep up the last instances fall behind while the first keep their cadence.
  const perInstance = (
    await store<{ n: number }[]>`
      select count(*)::int as n from sn_stat_snapshot
       where taken_at >= ${windowStart} and taken_at < ${windowEnd}
       group by instance_id`
  )
    .map((r) => r.n / perRound)
    .sort((a, b) => a - b)
  while (perInstance.length < n) perInstance.unshift(0)
  // Settings are stored only when they change: any row after the first round is a change.
  const settingChanges = await store<{ name: string; n: number; example: string }[]>`
    select name, count(*)::int as n,
           min(coalesce(previous_setting, '(none)') || ' -> ' || coalesce(setting, '(null)')) as example
      from sn_settings_changes
     where taken_at >= ${windowStart} and taken_at < ${windowEnd}
     group by name
     order by 2 desc, 1
     limit 10`
  const [sizes] = await store<{ store_bytes: string }[]>`
    select pg_database_size(current_database())::text as store_bytes`
  const problems = logProblems(service.log)
  await stopProcess(service.child)

  // ---- figures
  const base = (label: string) => label.replace(/ \(.*\)$/, '')
  const order = new Map(metricGroups.map((g, i) => [g.name, i]))
  groups.sort(
    (a, b) =>
      (order.get(base(a.group_name)) ?? 99) - (order.get(base(b.group_name)) ?? 99) ||
      a.group_name.localeCompare(b.group_name),
  )
  const ok = groups.reduce((s, g) => s + g.ok, 0)
  const all = groups.reduce((s, g) => s + g.ok + g.failed + g.unavailable, 0)
  const rowsStored = groups.reduce((s, g) => s + g.ok * (g.rows ?? 0), 0)
  const expected = (n * perRound * seconds) / interval
  const rounds = all / perRound
  const cpuPerRoundMs = (serviceCpu * 1000) / rounds
  // The brief's formula: one core-second per second over the CPU of an instance-minute, taking
  // an instance-minute at 60 s to cost one round as measured (scheduler upkeep included at the
  // bench's interval).
  const instancesPerCore = 60_000 / cpuPerRoundMs
  // Upkeep (ticks, leases, instance list) does not shrink with a longer interval: counted per
  // second, the rounds without it.
  const upkeepRate = quietCpu / quietSeconds
  const roundOnlyMs = ((serviceCpu - upkeepRate * wall) * 1000) / rounds
  const instancesPerCoreWithUpkeep = 1 / (roundOnlyMs / 1000 / 60 + upkeepRate / n)
  const spanMax = Math.max(...spans)
  const spanMedian = [...spans].sort((a, b) => a - b)[Math.floor(spans.length / 2)] ?? Number.NaN
  const upkeepReliable = spanMax < interval / 2 - 0.3
  // Rounds run `concurrency` instances at a time, each instance's groups one after the other, so
  // a pass is bound by latency: an instance-round takes span × min(instances, concurrency) /
  // instances, and `concurrency` of them run at once. How many instances that makes in 60 s; a
  // span close to the interval means the passes never rested (saturated), and then the rate is
  // what was completed.
  const saturated = spanMedian > interval * 0.9
  const inFlight = Math.min(n, options.concurrency)
  const instancesPer60sPass = saturated
    ? (rounds / wall) * 60
    : (60 * options.concurrency) / Math.max((spanMedian * inFlight) / n, 0.001)
  const monitoredCpu = serverSplit.collector + Math.max(0, serverSplit.exited - baseline.exited)
  const monitoredPerRoundMs = (monitoredCpu * 1000) / rounds
  const storePerRoundMs = (serverSplit.store * 1000) / rounds
  const addedServerCpu = serverSplit.total - baseline.total
  const engine = engineGroups.map((name) => {
    const g = groups.find((row) => row.group_name === name)
    return { name, p95Ms: round(g?.p95 ?? Number.NaN, 2), maxMs: round(g?.max ?? Number.NaN, 2) }
  })
  const engineMet = engine.every((g) => g.p95Ms !== null && g.p95Ms < goal.engineP95Ms)
  const m = machine()
  const perCpu = (x: number) => round((100 * x) / wall)

  const summary = {
    bench: 'collector',
    date,
    revision: rev,
    machine: m,
    options,
    postgres: {
      version: pg.version,
      clusters: options.clusters,
      maxConnections,
      databases: n * options.databases,
    },
    setupSeconds: round(setupSeconds),
    quietBeforeBaseline: quiet,
    firstRound: { complete: warmedUp, seconds: round(firstRoundSeconds, 2) },
    window: { seconds: round(wall, 2), start: windowStart.toISOString() },
    snapshots: {
      ok,
      all,
      expected,
      perSecond: round(ok / wall, 2),
      completion: round(all / expected, 3),
      rowsStored: Math.round(rowsStored),
    },
    roundsPerInstance: {
      expected: seconds / interval,
      min: round(perInstance[0] ?? 0, 2),
      median: round(perInstance[Math.floor(n / 2)] ?? 0, 2),
      max: round(perInstance.at(-1) ?? 0, 2),
    },
    roundSpanSeconds: { median: round(spanMedian, 2), max: round(spanMax, 2), saturated },
    service: {
      cpuSeconds: round(serviceCpu, 2),
      cpuPercent: perCpu(serviceCpu),
      cpuMsPerSnapshot: round((serviceCpu * 1000) / ok, 3),
      cpuMsPerInstanceRound: round(cpuPerRoundMs, 2),
      upkeepCpuPercent: round(100 * upkeepRate, 2),
      roundOnlyCpuMsPerInstanceRound: upkeepReliable ? round(roundOnlyMs, 2) : null,
      readyMs: round(service.readyMs, 0),
      rssMiB: {
        ready: round(readyRss),
        windowStart: round(rssAtStart),
        windowEnd: round(rssAtEnd),
        peak: round(peakRss),
        hwm: round(hwm),
      },
    },
    extrapolation: {
      instancesPerCoreAt60s: Math.floor(instancesPerCore),
      instancesPerCoreAt60sWithUpkeep: upkeepReliable ? Math.floor(instancesPerCoreWithUpkeep) : null,
      instancesPerReplicaAt60sLatencyBound: Math.floor(instancesPer60sPass),
      monitoredServerCpuMsPerInstanceMinute: round(monitoredPerRoundMs, 2),
      storeCpuMsPerInstanceMinute: round(storePerRoundMs, 2),
    },
    postgresCpuSeconds: {
      baseline: Object.fromEntries(Object.entries(baseline).map(([k, v]) => [k, round(v, 2)])),
      window: Object.fromEntries(Object.entries(serverSplit).map(([k, v]) => [k, round(v, 2)])),
      added: round(addedServerCpu, 2),
      collectorConnections,
    },
    machineBusyPercent: { baseline: round(baselineBusy), window: round(machineBusy) },
    otherProcessesCpuPercent: perCpu(otherCpu),
    benchCpuPercent: perCpu(benchCpu),
    lag: { p50: lag.quantile(0.5), p95: lag.quantile(0.95), over1s: round(1 - lag.share('1'), 3) },
    collectAndStore: { p50: collect.quantile(0.5), p95: collect.quantile(0.95) },
    groups: groups.map((g) => ({
      group: g.group_name,
      ok: g.ok,
      failed: g.failed,
      unavailable: g.unavailable,
      p50Ms: round(g.p50 ?? Number.NaN, 2),
      p95Ms: round(g.p95 ?? Number.NaN, 2),
      maxMs: round(g.max ?? Number.NaN, 2),
      rowsPerSnapshot: round(g.rows ?? Number.NaN),
    })),
    failures,
    settingChanges,
    storeMiB: round(Number(sizes?.store_bytes ?? 0) / 2 ** 20),
    logProblems: problems.map(({ level, msg, count }) => ({ level, msg, count })),
    goals: {
      instancesPerCore: {
        measured: Math.floor(instancesPerCore),
        met: instancesPerCore >= goal.instancesPerCore,
      },
      engineGroupsUnder100ms: { measured: engine, met: engineMet },
    },
  }

  const cpuCells = (key: Category | 'total') => [
    fmt(baseline[key], 2),
    fmt(serverSplit[key], 2),
    fmt((100 * serverSplit[key]) / wall),
  ]
  const out: string[] = []
  out.push(`pgAnalytics collector benchmark, ${date}`)
  out.push(`command: node_modules/.bin/bun bench/collector.ts ${process.argv.slice(2).join(' ')}`.trimEnd())
  out.push(`service: bun src/main.ts serve, revision ${rev}, run from a copy of the tree`)
  out.push(
    `machine: ${m.nproc} CPUs, ${m.cpu}, ${m.memoryGiB} GiB RAM, Linux ${m.kernel}; bun ${m.bun}; PostgreSQL ${pg.version} (max_connections ${maxConnections})`,
  )
  out.push(
    `load average before/after: ${loadBefore.map((x) => x.toFixed(2)).join(' ')} / ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  )
  out.push(
    `setup: ${n} instances × ${options.databases} databases on ${options.clusters} cluster(s) (${fmt(setupSeconds)} s), sslmode ${options.sslmode}, every group every ${interval} s, concurrency ${options.concurrency}; ${perRound} snapshots per instance-round`,
  )
  out.push(
    `first round (warm-up): ${warmedUp ? 'complete' : `INCOMPLETE (${firstRound.done} of ${n} instances)`}, ${fmt(firstRoundSeconds, 2)} s from the first fetch until every instance had one round; window ${fmt(wall)} s from ${windowStart.toISOString()}`,
  )
  out.push(
    `machine busy: ${fmt(baselineBusy)} % during the baseline (after waiting ${fmt(quiet.waitedMs / 1000)} s for < 25 %), ${fmt(machineBusy)} % during the window (100 % = one CPU); other processes ${fmt((100 * otherCpu) / wall)} %, this script ${fmt((100 * benchCpu) / wall)} %`,
  )
  out.push('')
  out.push('Throughput and cost (window)')
  out.push(
    table(
      ['figure', 'value'],
      [
        ['snapshots stored (ok)', `${fmtInt(ok)} = ${fmt(ok / wall)}/s`],
        [
          'all snapshot rows / expected',
          `${fmtInt(all)} / ${fmtInt(expected)} (${fmt((100 * all) / expected)} %)`,
        ],
        [
          'rounds per instance (min / median / max; expected)',
          `${fmt(perInstance[0] ?? 0, 2)} / ${fmt(perInstance[Math.floor(n / 2)] ?? 0, 2)} / ${fmt(perInstance.at(-1) ?? 0, 2)}; ${seconds / interval}`,
        ],
        ['metric rows stored', `${fmtInt(rowsStored)} = ${fmtInt(rowsStored / wall)}/s`],
        [
          'round span: first to last fetch of a round (median / max)',
          `${fmt(spanMedian, 2)} / ${fmt(spanMax, 2)} s of ${interval} s${saturated ? ' (saturated: rounds never rest)' : ''}`,
        ],
        ['service CPU', `${fmt(serviceCpu, 2)} s = ${fmt((100 * serviceCpu) / wall)} % of a core`],
        ['service CPU per snapshot', `${fmt((serviceCpu * 1000) / ok, 3)} ms`],
        ['service CPU per instance-round', `${fmt(cpuPerRoundMs, 2)} ms`],
        [
          'service upkeep between rounds (ticks, leases, instance list)',
          `${fmt(100 * upkeepRate, 2)} % of a core${upkeepReliable ? '' : ' (rounds overlap the quiet spans: not reliable)'}`,
        ],
        [
          'service CPU per instance-round without upkeep',
          upkeepReliable ? `${fmt(roundOnlyMs, 2)} ms` : 'n/a',
        ],
        [
          'service RSS (ready / window start / end / peak / HWM)',
          `${fmt(readyRss)} / ${fmt(rssAtStart)} / ${fmt(rssAtEnd)} / ${fmt(peakRss)} / ${fmt(hwm)} MiB`,
        ],
        [
          'lag behind due time (p50 / p95 / share > 1 s)',
          `${lag.quantile(0.5)} / ${lag.quantile(0.95)} / ${fmt(100 * (1 - lag.share('1')))} %`,
        ],
        ['collect + store per snapshot (p50 / p95)', `${collect.quantile(0.5)} / ${collect.quantile(0.95)}`],
        ['store database size at the end', `${fmt(Number(sizes?.store_bytes ?? 0) / 2 ** 20)} MiB`],
      ],
    ),
  )
  out.push('')
  out.push(
    `PostgreSQL CPU seconds (all server processes; ${fmt(wall)} s window vs ${seconds} s idle baseline)`,
  )
  out.push(
    table(
      ['who', 'baseline s', 'window s', 'window % of a core'],
      [
        ['collector connections (one per instance)', ...cpuCells('collector')],
        ['store connections (pga_store)', ...cpuCells('store')],
        ['exited processes (per-database connections, autovacuum)', ...cpuCells('exited')],
        ['background (postmaster, checkpointer, walwriter, ...)', ...cpuCells('background')],
        ['other clients (this script)', ...cpuCells('other')],
        ['total', ...cpuCells('total')],
      ],
      [1, 2, 3],
    ),
  )
  out.push(
    `added server CPU: ${fmt(addedServerCpu, 2)} s (${fmt((100 * addedServerCpu) / wall)} % of a core); live collector connections at the end: ${collectorConnections}`,
  )
  out.push('')
  out.push(
    'Per group (window; duration = duration_ms: the fetch, from sending the query to its rows, store write excluded)',
  )
  out.push(
    table(
      ['group', 'ok', 'failed', 'unavail.', 'p50 ms', 'p95 ms', 'max ms', 'rows/snap'],
      groups.map((g) => [
        g.group_name,
        String(g.ok),
        String(g.failed),
        String(g.unavailable),
        fmt(g.p50 ?? Number.NaN, 2),
        fmt(g.p95 ?? Number.NaN, 2),
        fmt(g.max ?? Number.NaN, 2),
        fmt(g.rows ?? Number.NaN),
      ]),
      [1, 2, 3, 4, 5, 6, 7],
    ),
  )
  out.push('')
  if (failures.length) {
    out.push('Failed and unavailable snapshots (window)')
    out.push(
      table(
        ['group', 'status', 'error_code', 'count', 'example'],
        failures.map((f) => [f.group_name, f.status, f.error_code ?? '', String(f.n), f.example ?? '']),
        [3],
      ),
    )
  } else out.push('No failed or unavailable snapshots in the window.')
  if (settingChanges.length) {
    out.push('')
    out.push('Settings that changed during the window (sn_settings_changes)')
    out.push(
      table(
        ['setting', 'changes', 'example'],
        settingChanges.map((c) => [c.name, String(c.n), c.example]),
        [1],
      ),
    )
  }
  if (problems.length) {
    out.push('')
    out.push('Service warnings and errors (whole run)')
    out.push(
      table(
        ['level', 'count', 'message'],
        problems.slice(0, 10).map((p) => [p.level, String(p.count), p.msg]),
        [1],
      ),
    )
  }
  out.push('')
  out.push('Extrapolation and goals')
  out.push(
    table(
      ['figure', 'value'],
      [
        [
          'instances one core sustains at a 60 s interval (service)',
          `${fmtInt(instancesPerCore)} (60 s / ${fmt(cpuPerRoundMs, 2)} ms per instance-round)`,
        ],
        [
          '  same, if the upkeep between rounds grew in proportion to instances',
          upkeepReliable ? fmtInt(instancesPerCoreWithUpkeep) : 'n/a (no quiet span between rounds)',
        ],
        [
          `instances a round pass finishes in 60 s (concurrency ${options.concurrency}, latency-bound)`,
          saturated
            ? `${fmtInt(instancesPer60sPass)} (saturated: ${fmt(rounds)} instance-rounds in ${fmt(wall)} s)`
            : `${fmtInt(instancesPer60sPass)} (${n} instances in ${fmt(spanMedian, 2)} s, ${inFlight} at a time)`,
        ],
        [
          'monitored server CPU per instance-minute',
          `${fmt(monitoredPerRoundMs, 2)} ms (${fmt(monitoredPerRoundMs / 600, 3)} % of a core at 60 s)`,
        ],
        ['store CPU per instance-minute', `${fmt(storePerRoundMs, 2)} ms`],
        [
          'goal: 1,000 instances at 60 s on one core',
          instancesPerCore >= goal.instancesPerCore ? 'met' : 'MISSED',
        ],
        [
          'goal: engine groups (bgwriter, archiver, replication) p95 < 100 ms',
          `${engineMet ? 'met' : 'MISSED'} (${engine.map((g) => `${g.name} ${fmt(g.p95Ms ?? Number.NaN)} ms, max ${fmt(g.maxMs ?? Number.NaN)}`).join('; ')})`,
        ],
      ],
    ),
  )
  out.push('')
  out.push(`JSON ${JSON.stringify(summary)}`)
  process.stdout.write(`${out.join('\n')}\n`)
}

// The large-server scenario (one cluster with very many tables) is a script of its own.
if (process.argv.includes('--scenario')) {
  rmSync(work, { recursive: true, force: true })
  const { runLargeServer } = await import('./collector-large-server.ts')
  await runLargeServer(process.argv.slice(2))
}

let options: Options
try {
  options = parseOptions(process.argv.slice(2))
} catch (error) {
  console.error(`bench/collector.ts: ${(error as Error).message}`)
  rmSync(work, { recursive: true, force: true })
  process.exit(2)
}
// Setup, baseline, warm-up and window, with room to spare.
const watchdogMs =
  (600 + 2 * options.seconds + 4 * options.interval + options.instances * options.databases) * 1000
await runBench('bench/collector.ts', () => main(options), cleanup, watchdogMs)
