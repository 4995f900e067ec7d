// Collector efficiency side by side with pgwatch (issue 17). It PRINTS figures (a table and a
// line starting with `JSON `); it never passes or fails on them.
//   1. starts two throwaway PostgreSQL 15 clusters: the monitored one (--databases databases of
//      --tables small tables each, with an index, pg_stat_statements, a light pgbench load at a
//      fixed rate, a login `pga_bench` with only pg_monitor) and the store (a database for each
//      collector), so the monitored side and the store side are measured apart;
//   2. measures a baseline window: CPU of both clusters with nothing collecting (pgbench only);
//   3. alternates --windows windows of --seconds: our service (`dist/pganalytics serve`) with
//      every group every --interval seconds over the monitored databases, the collector alone
//      (`dist/pganalytics-collector collect`, same store and instance), with --compare-binary
//      PATH another build's `serve` (e.g. the one before a change), then pgwatch (PGWATCH_BIN,
//      pgwatch 3.x: `go build ./cmd/pgwatch` at tag v3.7.0 with a placeholder
//      internal/webui/build/index.html) with the metrics of its `exhaustive` preset that need no
//      helper functions, every one every --interval seconds, on a continuous-discovery source over
//      the same databases. Each collector starts fresh and is warmed up for two intervals first;
//   4. per window: the collector process's CPU (utime + stime), its peak and final RSS (the final
//      one split into anonymous and file-backed pages), the rows
//      it stored (inserts counted by the store's statistics), and the CPU of each cluster above
//      its baseline (every backend, including those that exited in the window: the postmaster's
//      reaped-children time). Reported per round of the instance (window / interval).
// Without PGWATCH_BIN it measures ours alone. Only 127.0.0.1; everything it starts is stopped by PID.
// Run from the repository root (after `bash scripts/build.sh`):
//   PGWATCH_BIN=/path/to/pgwatch node_modules/.bin/bun bench/collector-vs-pgwatch.ts
//     [--seconds 240] [--windows 3] [--interval 15] [--databases 5] [--tables 200]
//     [--compare-binary PATH] [--profile DIR] [--collect-variant 'LABEL|BINARY|K=V ...']
//     [--smaps DIR]
import { randomBytes } from 'node:crypto'
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { cpus, release, totalmem } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import type { Subprocess } from 'bun'
import postgres from 'postgres'
import { metricGroups } from '../src/collector/catalog/index.ts'
import { startPostgres, type TestPostgres } from '../test/harness/postgres.ts'
import { freePort, tempDir } from '../test/harness/processes.ts'
import { clusterCpuSeconds, cpuSeconds, databaseUrl, envPairs, procStatus, runBench } from './support.ts'

const root = resolve(import.meta.dir, '..')
const args = process.argv.slice(2)
const option = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? Number(args[i + 1]) : fallback
}
const options = {
  seconds: option('seconds', 240),
  windows: option('windows', 3),
  interval: option('interval', 15),
  databases: option('databases', 5),
  tables: option('tables', 200),
}
// --profile DIR: runs our service from source under `bun --cpu-prof` (readable names), ours only;
// the profile (.cpuprofile) lands in DIR when the service stops. Its figures are not comparable.
const profileDir = (() => {
  const i = args.indexOf('--profile')
  return i >= 0 ? resolve(args[i + 1] as string) : undefined
})()
// --store-statements: after each window, the store's busiest statements in that collector's
// database (pg_stat_statements, reset when the window starts), and the CPU its autovacuum and
// autoanalyze runs reported (the store logs every run: log_autovacuum_min_duration=0).
const storeStatements = args.includes('--store-statements')
const pgwatchBin = process.env.PGWATCH_BIN
const binary = join(root, 'dist', 'pganalytics')
const collectorBinary = join(root, 'dist', 'pganalytics-collector')
// --compare-binary PATH: also measures that build's `serve` (e.g. a copy of dist/pganalytics
// from before a change), in the same alternating windows.
const compareBinary = (() => {
  const i = args.indexOf('--compare-binary')
  return i >= 0 ? resolve(args[i + 1] as string) : undefined
})()
// --collect-variant 'LABEL|BINARY|K=V K=V' (repeatable): another collector-only shape, e.g. a
// build with other flags or the same binary with other environment, in the same windows and
// store database as `collect` (its rows are counted apart by window).
const collectVariants = args.flatMap((arg, i) => {
  if (arg !== '--collect-variant') return []
  const [label = '', bin = '', envText = ''] = (args[i + 1] ?? '').split('|')
  if (!label || !bin) throw new Error(`--collect-variant wants 'LABEL|BINARY|K=V ...', got ${args[i + 1]}`)
  return [{ label, binary: resolve(bin), env: envPairs(envText, '--collect-variant') }]
})
// --smaps DIR: at the end of each window, a copy of the collector's /proc/<pid>/smaps in DIR
// (which mappings hold its resident pages).
const smapsDir = (() => {
  const i = args.indexOf('--smaps')
  return i >= 0 ? resolve(args[i + 1] as string) : undefined
})()
/** serve, collect, the variants, the compared build and pgwatch: for the watchdog. */
const shapeCount = 2 + collectVariants.length + (compareBinary ? 1 : 0) + (pgwatchBin ? 1 : 0)
const work = tempDir('bench-vs-pgwatch')
const children = new Set<Subprocess>()
const clusters: TestPostgres[] = []
const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)))
const note = (text: string) => console.error(text)

// pgwatch's exhaustive preset without the metrics that need helper functions (cpu_load,
// change_events, sequence_health, table_bloat_approx_summary_sql): what a pg_monitor login runs.
const pgwatchMetrics = [
  'archiver',
  'backends',
  'bgwriter',
  'checkpointer',
  'db_size',
  'db_stats',
  'index_stats',
  'instance_up',
  'locks',
  'locks_mode',
  'replication',
  'replication_slots',
  'settings',
  'sproc_stats',
  'stat_activity',
  'stat_statements',
  'stat_statements_calls',
  'table_io_stats',
  'table_stats',
  'wal',
  'wal_receiver',
  'wal_size',
]

// ---------------------------------------------------------------------------------------------
// CPU and memory from /proc.

/** CPU ms of a process (utime + stime). */
const processCpu = (pid: number) => cpuSeconds(pid) * 1000
const memoryMiB = (pid: number, field: Parameters<typeof procStatus>[1]) => procStatus(pid, field) ?? 0

/** CPU ms of a whole cluster: the postmaster, its live children, and the children it reaped. */
const clusterCpu = (cluster: TestPostgres) => clusterCpuSeconds(cluster.dataDir) * 1000

/** Tuples inserted into a store database so far (its statistics, flushed within a second). */
async function insertedRows(store: postgres.Sql): Promise<number> {
  await sleep(1500)
  const [row] = await store<
    { n: string }[]
  >`select coalesce(sum(n_tup_ins), 0)::text as n from pg_stat_user_tables`
  return Number(row?.n ?? 0)
}

/** Autovacuum and autoanalyze runs in a store database so far. */
async function maintenanceRuns(store: postgres.Sql): Promise<number> {
  const [row] = await store<{ n: string }[]>`
    select coalesce(sum(autovacuum_count + autoanalyze_count), 0)::text as n from pg_stat_user_tables`
  return Number(row?.n ?? 0)
}

const storeLog = (store: TestPostgres) => join(dirname(store.dataDir), 'server.log')

/** Autovacuum and autoanalyze runs on a database's tables logged since `from` (bytes into the
 * log), and the CPU (user + system) they reported. */
function autovacuumCpu(store: TestPostgres, from: number, database: string) {
  const text = readFileSync(storeLog(store), 'utf8').slice(from)
  let runs = 0
  let cpuMs = 0
  // A run's entry names the table ("pga.public.sn_stat_tables_p20261202") and, a few lines
  // later, its CPU ("system usage: CPU: user: 0.01 s, system: 0.00 s, elapsed: 0.03 s").
  for (const entry of text.split(/automatic (?:aggressive )?(?:vacuum|analyze) of table "/).slice(1)) {
    if (!entry.startsWith(`${database}.`)) continue
    const usage = /CPU: user: ([\d.]+) s, system: ([\d.]+) s/.exec(entry)
    runs++
    if (usage) cpuMs += (Number(usage[1]) + Number(usage[2])) * 1000
  }
  return { runs, cpuMs }
}

async function printStoreStatements(name: string, store: postgres.Sql, maintenance0: number) {
  const rounds = options.seconds / options.interval
  const top = await store<{ calls: string; ms: string; rows: string; query: string }[]>`
    select calls::text, round(total_exec_time::numeric, 1)::text as ms, rows::text,
           left(regexp_replace(query, '[[:space:]]+', ' ', 'g'), 110) as query
      from pg_stat_statements where dbid = (select oid from pg_database where datname = current_database())
     order by total_exec_time desc limit 12`
  const [all] = await store<{ calls: string; ms: string }[]>`
    select sum(calls)::text as calls, round(sum(total_exec_time)::numeric, 1)::text as ms
      from pg_stat_statements where dbid = (select oid from pg_database where datname = current_database())`
  note(
    `  ${name} store statements: ${Number(all?.calls) / rounds} calls and ${(Number(all?.ms) / rounds).toFixed(1)} ms of execution per round; autovacuum/analyze runs in the window: ${(await maintenanceRuns(store)) - maintenance0}`,
  )
  for (const t of top)
    note(`    ${t.calls.padStart(6)} calls ${t.ms.padStart(9)} ms ${t.rows.padStart(8)} rows  ${t.query}`)
}

// ---------------------------------------------------------------------------------------------
// Processes.

async function stop(child: Subprocess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM')
    const killed = await Promise.race([child.exited.then(() => true), sleep(15_000).then(() => false)])
    if (!killed) child.kill('SIGKILL')
    await child.exited
  }
  children.delete(child)
}

function spawn(name: string, cmd: string[], env: Record<string, string>): Subprocess {
  const log = join(work, `${name}.log`)
  const child = Bun.spawn(cmd, {
    cwd: work,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: work, LANG: 'C.UTF-8', ...env },
    stdin: 'ignore',
    stdout: Bun.file(log),
    stderr: Bun.file(`${log}.err`),
  })
  children.add(child)
  return child
}

async function waitReady(base: string, child: Subprocess): Promise<void> {
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; await sleep(50)) {
    if (child.exitCode !== null) throw new Error(`service exited ${child.exitCode}`)
    const ok = await fetch(`${base}/readyz`).then(
      (r) => r.status === 200,
      () => false,
    )
    if (ok) return
  }
  throw new Error('service not ready in 60 s')
}

// ---------------------------------------------------------------------------------------------
// Set-up.

const databases = Array.from({ length: options.databases }, (_, i) => `bench_${i + 1}`)

async function prepareMonitored(cluster: TestPostgres): Promise<void> {
  const admin = postgres(cluster.url, { max: 1, onnotice: () => {} })
  await admin`create role pga_bench login in role pg_monitor`
  for (const name of databases) {
    await admin.unsafe(`create database ${name}`)
    const db = postgres(databaseUrl(cluster.url, name), { max: 1, onnotice: () => {} })
    await db`create extension pg_stat_statements`
    await db.unsafe(`
      do $$ begin
        for i in 1..${options.tables} loop
          execute format('create table t_%s (id bigint primary key, note text)', i);
          execute format('insert into t_%s select g, md5(g::text) from generate_series(1, 20) g', i);
        end loop;
      end $$`)
    await db.end()
  }
  await admin`create database pgbench_db`
  await admin.end()
  const pgbench = join(cluster.binDir, 'pgbench')
  const init = Bun.spawnSync([
    pgbench,
    '-i',
    '-s',
    '1',
    '-q',
    '-h',
    '127.0.0.1',
    '-p',
    String(cluster.port),
    '-U',
    'postgres',
    'pgbench_db',
  ])
  if (init.exitCode !== 0) throw new Error(`pgbench -i: ${init.stderr.toString()}`)
  // A light, steady load for the whole run: 20 transactions a second on 2 clients.
  spawn(
    'pgbench',
    [
      pgbench,
      '-c',
      '2',
      '-R',
      '20',
      '-T',
      '86400',
      '-h',
      '127.0.0.1',
      '-p',
      String(cluster.port),
      '-U',
      'postgres',
      'pgbench_db',
    ],
    {},
  )
}

// ---------------------------------------------------------------------------------------------
// The two collectors.

type Collector = { name: string; storeDb: string; start(): Promise<Subprocess> }

/** Our shapes share one master key; each has a store database of its own, with the instance
 * added once: `serve` (the whole service, collector included), `collect` (the collector-only
 * binary, dist/pganalytics-collector) and, with --compare-binary, another build's `serve` (an
 * older build refuses a store a newer one migrated). Apart, one shape's rows never trigger
 * autovacuum or autoanalyze in another shape's windows. */
function ours(monitored: TestPostgres, store: TestPostgres) {
  const token = randomBytes(24).toString('hex')
  const masterKey = randomBytes(32).toString('base64')
  const env = (port: number, storeDb = 'pga') => ({
    PGA_PORT: String(port),
    DATABASE_URL: databaseUrl(store.url, storeDb),
    PGA_MASTER_KEY: masterKey,
    PGA_ADMIN_TOKEN: token,
    PGA_LOG_LEVEL: 'warn',
    PGA_SELF_MONITOR: 'false',
  })
  const added = new Set<string>()
  async function addInstance(base: string, storeDb: string) {
    const res = await fetch(`${base}/api/v1/instances?test=false`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        name: 'monitored',
        host: '127.0.0.1',
        port: monitored.port,
        database: databases[0],
        username: 'pga_bench',
        sslmode: 'disable',
        intervals: Object.fromEntries(metricGroups.map((g) => [g.name, options.interval])),
        includeDatabases: ['bench_*'],
      }),
    })
    if (res.status !== 201) throw new Error(`POST /api/v1/instances: ${res.status} ${await res.text()}`)
    added.add(storeDb)
  }
  const serve = (name: string, bin: string, storeDb = 'pga'): Collector => ({
    name,
    storeDb,
    async start() {
      const port = await freePort()
      const base = `http://127.0.0.1:${port}`
      const command = profileDir
        ? [
            process.execPath,
            '--cpu-prof',
            `--cpu-prof-dir=${profileDir}`,
            join(root, 'src', 'main.ts'),
            'serve',
          ]
        : [bin, 'serve']
      const child = spawn(name, command, env(port, storeDb))
      await waitReady(base, child)
      if (!added.has(storeDb)) await addInstance(base, storeDb)
      return child
    },
  })
  const collect = (name: string, bin: string, extraEnv: Record<string, string> = {}): Collector => ({
    name,
    storeDb: 'pga_collect',
    async start() {
      if (!added.has('pga_collect')) {
        // The API adds the instance (migrating the store); it does not collect.
        const port = await freePort()
        const setup = spawn('pganalytics-setup', [binary, 'serve'], {
          ...env(port, 'pga_collect'),
          PGA_COLLECTOR_ENABLED: 'false',
        })
        await waitReady(`http://127.0.0.1:${port}`, setup)
        await addInstance(`http://127.0.0.1:${port}`, 'pga_collect')
        await stop(setup)
      }
      const port = await freePort()
      const child = spawn(name, [bin, 'collect'], { ...env(port, 'pga_collect'), ...extraEnv })
      await waitReady(`http://127.0.0.1:${port}`, child)
      return child
    },
  })
  return { serve, collect }
}

function pgwatch(bin: string, monitored: TestPostgres, store: TestPostgres): Collector {
  const sources = join(work, 'sources.yaml')
  const metrics = pgwatchMetrics.map((m) => `    ${m}: ${options.interval}`).join('\n')
  writeFileSync(
    sources,
    `- name: monitored
  conn_str: postgresql://pga_bench@127.0.0.1:${monitored.port}/postgres?sslmode=disable
  kind: postgres-continuous-discovery
  include_pattern: ^bench_[0-9]+$
  is_enabled: true
  custom_metrics:
${metrics}
`,
  )
  const sink = new URL(store.url)
  sink.pathname = '/pgwatch'
  return {
    name: 'pgwatch',
    storeDb: 'pgwatch',
    async start() {
      return spawn(
        'pgwatch',
        [bin, `--sources=${sources}`, `--sink=${sink}`, '--web-disable=all', '--log-level=error'],
        {},
      )
    },
  }
}

// ---------------------------------------------------------------------------------------------
// Windows.

type Window = {
  collector: string
  cpuMs: number
  rows: number
  monitoredMs: number
  storeMs: number
  rssPeakMiB: number
  rssEndMiB: number
  /** The end RSS split: anonymous (heaps, allocator) and file-backed (the executable's pages). */
  rssAnonEndMiB: number
  rssFileEndMiB: number
}

async function measureWindow(
  collector: Collector,
  monitored: TestPostgres,
  store: TestPostgres,
  baseline: { monitored: number; store: number },
): Promise<Window> {
  const storeSql = postgres(databaseUrl(store.url, collector.storeDb), { max: 1, onnotice: () => {} })
  const child = await collector.start()
  try {
    note(`  ${collector.name}: warming up for ${2 * options.interval} s`)
    await sleep(2 * options.interval * 1000)
    if (storeStatements) await storeSql`select pg_stat_statements_reset()`
    const maintenance0 = storeStatements ? await maintenanceRuns(storeSql) : 0
    const storeLogAt = storeStatements ? statSync(storeLog(store)).size : 0
    const rows0 = await insertedRows(storeSql)
    const cpu0 = processCpu(child.pid)
    const m0 = clusterCpu(monitored)
    const s0 = clusterCpu(store)
    await sleep(options.seconds * 1000)
    const cpu1 = processCpu(child.pid)
    const m1 = clusterCpu(monitored)
    const s1 = clusterCpu(store)
    const rssPeakMiB = memoryMiB(child.pid, 'VmHWM')
    const rssEndMiB = memoryMiB(child.pid, 'VmRSS')
    const rssAnonEndMiB = memoryMiB(child.pid, 'RssAnon')
    const rssFileEndMiB = memoryMiB(child.pid, 'RssFile')
    if (smapsDir) {
      mkdirSync(smapsDir, { recursive: true })
      copyFileSync(`/proc/${child.pid}/smaps`, join(smapsDir, `${collector.name}-${Date.now()}.smaps`))
    }
    if (child.exitCode !== null) throw new Error(`${collector.name} exited during the window`)
    const rows = (await insertedRows(storeSql)) - rows0
    if (storeStatements) {
      await printStoreStatements(collector.name, storeSql, maintenance0)
      const { runs, cpuMs } = autovacuumCpu(store, storeLogAt, collector.storeDb)
      note(
        `  ${collector.name}: ${runs} autovacuum/analyze runs in its database, ${(cpuMs / (options.seconds / options.interval)).toFixed(1)} ms of CPU per round`,
      )
    }
    const perSecond = options.seconds
    return {
      collector: collector.name,
      cpuMs: cpu1 - cpu0,
      rows,
      monitoredMs: m1 - m0 - baseline.monitored * perSecond,
      storeMs: s1 - s0 - baseline.store * perSecond,
      rssPeakMiB,
      rssEndMiB,
      rssAnonEndMiB,
      rssFileEndMiB,
    }
  } finally {
    await stop(child)
    await storeSql.end()
  }
}

function summarise(windows: Window[]) {
  const rounds = options.seconds / options.interval
  // An even count takes the mean of the middle two (it took the upper one: the worst of two).
  const median = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b)
    const mid = Math.floor(sorted.length / 2)
    return sorted.length % 2 === 1
      ? (sorted[mid] as number)
      : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
  }
  return {
    cpuPerRoundMs: median(windows.map((w) => w.cpuMs / rounds)),
    cpuPer1000RowsMs: median(windows.map((w) => (w.cpuMs / Math.max(1, w.rows)) * 1000)),
    rowsPerRound: median(windows.map((w) => w.rows / rounds)),
    monitoredPerRoundMs: median(windows.map((w) => w.monitoredMs / rounds)),
    storePerRoundMs: median(windows.map((w) => w.storeMs / rounds)),
    rssPeakMiB: Math.max(...windows.map((w) => w.rssPeakMiB)),
    rssEndMiB: median(windows.map((w) => w.rssEndMiB)),
    rssAnonEndMiB: median(windows.map((w) => w.rssAnonEndMiB)),
    rssFileEndMiB: median(windows.map((w) => w.rssFileEndMiB)),
  }
}

async function main() {
  if (!existsSync(binary)) throw new Error(`${binary} is missing: run bash scripts/build.sh first`)
  if (pgwatchBin && !existsSync(pgwatchBin)) throw new Error(`PGWATCH_BIN=${pgwatchBin} does not exist`)
  note('starting the monitored and store clusters')
  const [monitored, store] = await Promise.all([
    startPostgres(),
    startPostgres(storeStatements ? ['log_autovacuum_min_duration=0'] : []),
  ])
  clusters.push(monitored, store)
  await prepareMonitored(monitored)
  const storeAdmin = postgres(store.url, { max: 1, onnotice: () => {} })
  await storeAdmin`create database pga`
  await storeAdmin`create database pga_collect`
  await storeAdmin`create database pgwatch`
  if (compareBinary) await storeAdmin`create database pga_before`
  await storeAdmin.end()
  if (storeStatements)
    for (const database of ['pga', 'pga_collect', 'pgwatch', ...(compareBinary ? ['pga_before'] : [])]) {
      const db = postgres(databaseUrl(store.url, database), { max: 1, onnotice: () => {} })
      await db`create extension pg_stat_statements`
      await db.end()
    }

  note(`baseline: ${options.seconds} s with nothing collecting`)
  await sleep(5000)
  const m0 = clusterCpu(monitored)
  const s0 = clusterCpu(store)
  await sleep(options.seconds * 1000)
  const baseline = {
    monitored: (clusterCpu(monitored) - m0) / options.seconds,
    store: (clusterCpu(store) - s0) / options.seconds,
  }

  const shapes = ours(monitored, store)
  const collectors = profileDir
    ? [shapes.serve('pganalytics', binary)]
    : [
        shapes.serve('pganalytics', binary),
        shapes.collect('pganalytics-collector', collectorBinary),
        ...collectVariants.map((v) => shapes.collect(v.label, v.binary, v.env)),
        ...(compareBinary ? [shapes.serve('pganalytics-before', compareBinary, 'pga_before')] : []),
        ...(pgwatchBin ? [pgwatch(pgwatchBin, monitored, store)] : []),
      ]
  const windows: Window[] = []
  for (let w = 1; w <= options.windows; w++) {
    for (const collector of collectors) {
      note(`window ${w}/${options.windows}: ${collector.name}`)
      const window = await measureWindow(collector, monitored, store, baseline)
      windows.push(window)
      // As it goes: a run stopped later still leaves the windows it finished.
      note(`  ${JSON.stringify(window)}`)
    }
  }

  const results = Object.fromEntries(
    collectors.map((c) => [c.name, summarise(windows.filter((w) => w.collector === c.name))]),
  )
  const theirs = results.pgwatch as ReturnType<typeof summarise> | undefined
  const mine = collectors.filter((c) => c.name !== 'pgwatch').map((c) => c.name)
  const rows: [string, keyof ReturnType<typeof summarise>, number][] = [
    ['collector CPU per round (ms)', 'cpuPerRoundMs', 0],
    ['collector CPU per 1,000 stored rows (ms)', 'cpuPer1000RowsMs', 1],
    ['rows stored per round', 'rowsPerRound', 0],
    ['monitored server CPU per round (ms)', 'monitoredPerRoundMs', 0],
    ['store CPU per round (ms)', 'storePerRoundMs', 0],
    ['collector RSS peak (MiB)', 'rssPeakMiB', 1],
    ['collector RSS at the end (MiB)', 'rssEndMiB', 1],
    ['  of which anonymous (MiB)', 'rssAnonEndMiB', 1],
    ['  of which file-backed (MiB)', 'rssFileEndMiB', 1],
  ]
  console.log(
    `\nper round of one instance (${options.databases} databases x ${options.tables} tables, every ${options.interval} s; median of ${options.windows} windows of ${options.seconds} s)`,
  )
  // Each of ours, then pgwatch, then each of ours against pgwatch.
  console.log(
    `| figure | ${mine.join(' | ')} |${theirs ? ` pgwatch | ${mine.map((m) => `${m} / pgwatch`).join(' | ')} |` : ''}`,
  )
  console.log(
    `|---|${mine.map(() => '---:|').join('')}${theirs ? `---:|${mine.map(() => '---:|').join('')}` : ''}`,
  )
  for (const [label, key, digits] of rows) {
    const values = mine.map((m) => (results[m] as ReturnType<typeof summarise>)[key])
    const b = theirs?.[key]
    console.log(
      `| ${label} | ${values.map((a) => a.toFixed(digits)).join(' | ')} |${b === undefined ? '' : ` ${b.toFixed(digits)} | ${values.map((a) => `${(a / b).toFixed(2)}x`).join(' | ')} |`}`,
    )
  }
  console.log(
    `JSON ${JSON.stringify({ options, machine: { cpus: cpus().length, model: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30), kernel: release() }, baseline, windows, results })}`,
  )
}

async function cleanup() {
  for (const child of [...children]) await stop(child).catch(() => {})
  await Promise.all(clusters.map((c) => c.stop().catch(() => {})))
}

await runBench(
  'collector-vs-pgwatch',
  main,
  cleanup,
  // Every shape's windows with their warm-up and start, the baseline, and set-up.
  ((options.seconds + 2 * options.interval + 60) * options.windows * shapeCount + options.seconds + 900) *
    1000,
)
