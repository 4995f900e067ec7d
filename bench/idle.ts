// What a replica costs while nothing happens (issue 17: the background work counts in every
// collection round). It PRINTS figures; it never passes or fails on them. With a throwaway
// PostgreSQL 15 as the store (with pg_stat_statements) and the in-memory state store, one after
// the other, each started fresh and left alone for --warmup seconds, then measured for --seconds:
//   - a compiled bare Hono server (bench/bare-hono.ts; the same-run reference: the runtime alone);
//   - `dist/pganalytics serve` (no instances registered: API, sealer, collector scheduler...);
//   - `dist/pganalytics-collector collect` (the collector-only binary, no instances);
//   - with --compare-binary PATH, that build's `serve` (e.g. the one before a change).
// Per process: CPU per second (user + system of all threads), and per thread its CPU (from
// /proc/<pid>/task/<tid>/schedstat, nanoseconds on CPU, not the 10 ms ticks of /proc/<pid>/stat,
// which miss or overcount short wakeups) and its wakeups per second (voluntary context switches);
// the store statements it ran per minute (pg_stat_statements, reset when the window starts); RSS,
// split into anonymous (private: heaps, JIT code) and file-backed pages (the executable's), and
// the thread count at the end.
// Run from the repository root (after `bash scripts/build.sh`):
//   node_modules/.bin/bun bench/idle.ts [--seconds 60] [--warmup 20] [--compare-binary PATH]
import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { cpus, loadavg, release } from 'node:os'
import { join, resolve } from 'node:path'
import type { Subprocess } from 'bun'
import postgres from 'postgres'
import { startPostgres, type TestPostgres } from '../test/harness/postgres.ts'
import { freePort } from '../test/harness/processes.ts'
import {
  benchProcesses,
  cliOption,
  cpuSeconds,
  databaseUrl,
  fmt,
  note,
  procStatus,
  runBench,
  sleep,
  table,
  waitForReady,
} from './support.ts'

const root = resolve(import.meta.dir, '..')
const seconds = Number(cliOption('seconds') ?? 60)
const warmup = Number(cliOption('warmup') ?? 20)
const compareBinary = cliOption('compare-binary') && resolve(cliOption('compare-binary') as string)
const bun = join(root, 'node_modules', '.bin', 'bun')
const processes = benchProcesses('bench-idle')
let store: TestPostgres | undefined

type Thread = { name: string; ns: number; wakeups: number }

/** Per thread of a live process: its name, ns on CPU and voluntary context switches so far. */
function threads(pid: number): Map<string, Thread> {
  const out = new Map<string, Thread>()
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8')
      out.set(tid, {
        name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
        ns: Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]),
        wakeups: Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0),
      })
    } catch {
      // the thread ended meanwhile
    }
  }
  return out
}

type Shape = { name: string; cmd: string[]; env: Record<string, string>; storeDb?: string }

type Measured = {
  name: string
  cpuMsPerSecond: number
  wakeupsPerSecond: number
  storeStatementsPerMinute: number | null
  rssMiB: number
  anonMiB: number
  fileMiB: number
  threadCount: number
  threads: { name: string; cpuMsPerSecond: number; wakeupsPerSecond: number }[]
}

async function measure(shape: Shape, storeUrl: string): Promise<Measured> {
  const port = await freePort()
  const log = join(processes.work, `${shape.name.replace(/\W+/g, '-')}.log`)
  const child: Subprocess = processes.spawn(shape.cmd, {
    cwd: processes.work,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      PORT: String(port),
      PGA_PORT: String(port),
      ...shape.env,
    },
    log,
  })
  const readyPath = shape.storeDb ? '/readyz' : '/'
  await waitForReady(`http://127.0.0.1:${port}${readyPath}`, { startedAt: performance.now(), child })
  note(`  ${shape.name}: ready, left alone for ${warmup} s`)
  await sleep(warmup * 1000)
  const storeSql = shape.storeDb
    ? postgres(databaseUrl(storeUrl, shape.storeDb), { max: 1, onnotice: () => {} })
    : undefined
  if (storeSql) await storeSql`select pg_stat_statements_reset()`
  const cpu0 = cpuSeconds(child.pid)
  const threads0 = threads(child.pid)
  await sleep(seconds * 1000)
  const cpu1 = cpuSeconds(child.pid)
  const threads1 = threads(child.pid)
  const statements = storeSql
    ? Number(
        (
          await storeSql<{ calls: string }[]>`
            select coalesce(sum(calls), 0)::text as calls from pg_stat_statements
             where dbid = (select oid from pg_database where datname = current_database())
               and query not ilike '%pg_stat_statements%'`
        )[0]?.calls ?? 0,
      )
    : null
  await storeSql?.end()
  const rssMiB = procStatus(child.pid, 'VmRSS') ?? 0
  const anonMiB = procStatus(child.pid, 'RssAnon') ?? 0
  const fileMiB = procStatus(child.pid, 'RssFile') ?? 0
  await processes.stop(child)
  const perThread = [...threads1].map(([tid, after]) => {
    const before = threads0.get(tid) ?? { ns: 0, wakeups: 0 }
    return {
      name: after.name,
      cpuMsPerSecond: (after.ns - before.ns) / 1e6 / seconds,
      wakeupsPerSecond: (after.wakeups - before.wakeups) / seconds,
    }
  })
  return {
    name: shape.name,
    cpuMsPerSecond: ((cpu1 - cpu0) * 1000) / seconds,
    wakeupsPerSecond: perThread.reduce((sum, t) => sum + t.wakeupsPerSecond, 0),
    storeStatementsPerMinute: statements === null ? null : (statements * 60) / seconds,
    rssMiB,
    anonMiB,
    fileMiB,
    threadCount: perThread.length,
    threads: perThread
      .filter((t) => t.cpuMsPerSecond >= 0.005)
      .sort((a, b) => b.cpuMsPerSecond - a.cpuMsPerSecond),
  }
}

async function main() {
  const binary = join(root, 'dist', 'pganalytics')
  const collector = join(root, 'dist', 'pganalytics-collector')
  for (const path of [binary, collector])
    if (!existsSync(path)) throw new Error(`${path} is missing: run bash scripts/build.sh first`)
  note('starting the store cluster; building the bare Hono reference')
  store = await startPostgres(['shared_preload_libraries=pg_stat_statements'])
  const bare = join(processes.work, 'bare-hono')
  const build = Bun.spawnSync(
    [bun, 'build', '--compile', '--bytecode', '--minify', 'bench/bare-hono.ts', '--outfile', bare],
    {
      cwd: root,
    },
  )
  if (build.exitCode !== 0) throw new Error(`bare Hono build failed:\n${build.stderr.toString()}`)
  const admin = postgres(store.url, { max: 1, onnotice: () => {} })
  const databases = ['pga_serve', 'pga_collect', ...(compareBinary ? ['pga_before'] : [])]
  for (const database of databases) {
    await admin.unsafe(`create database ${database}`)
    const db = postgres(databaseUrl(store.url, database), { max: 1, onnotice: () => {} })
    await db`create extension pg_stat_statements`
    await db.end()
  }
  await admin.end()
  const masterKey = randomBytes(32).toString('base64')
  const serviceEnv = (database: string) => ({
    DATABASE_URL: databaseUrl(store?.url as string, database),
    PGA_MASTER_KEY: masterKey,
    PGA_ADMIN_TOKEN: randomBytes(24).toString('hex'),
    PGA_LOG_LEVEL: 'warn',
    PGA_SELF_MONITOR: 'false',
  })
  const shapes: Shape[] = [
    { name: 'bare Hono (compiled)', cmd: [bare], env: {} },
    { name: 'serve', cmd: [binary, 'serve'], env: serviceEnv('pga_serve'), storeDb: 'pga_serve' },
    // The collector-only binary needs a migrated store: `serve` above migrated pga_serve.
    { name: 'collect', cmd: [collector, 'collect'], env: serviceEnv('pga_serve'), storeDb: 'pga_serve' },
    ...(compareBinary
      ? [
          {
            name: 'serve (compared build)',
            cmd: [compareBinary, 'serve'],
            env: serviceEnv('pga_before'),
            storeDb: 'pga_before',
          },
        ]
      : []),
  ]
  const results: Measured[] = []
  for (const shape of shapes) {
    note(`${shape.name}`)
    results.push(await measure(shape, store.url))
  }

  console.log(
    `\nidle replica, ${seconds} s after ${warmup} s alone (${cpus().length} × ${cpus()[0]?.model}, load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}, kernel ${release()})`,
  )
  console.log(
    table(
      [
        'process',
        'CPU ms/s',
        'wakeups/s',
        'store statements/min',
        'RSS MiB',
        'anonymous',
        'file-backed',
        'threads',
      ],
      results.map((r) => [
        r.name,
        fmt(r.cpuMsPerSecond, 2),
        fmt(r.wakeupsPerSecond, 1),
        r.storeStatementsPerMinute === null ? '' : fmt(r.storeStatementsPerMinute, 0),
        fmt(r.rssMiB, 1),
        fmt(r.anonMiB, 1),
        fmt(r.fileMiB, 1),
        String(r.threadCount),
      ]),
      [1, 2, 3, 4, 5, 6, 7],
    ),
  )
  for (const r of results) {
    console.log(`\n${r.name}, by thread:`)
    console.log(
      table(
        ['thread', 'CPU ms/s', 'wakeups/s'],
        r.threads.map((t) => [t.name, fmt(t.cpuMsPerSecond, 2), fmt(t.wakeupsPerSecond, 1)]),
        [1, 2],
      ),
    )
  }
  console.log(`JSON ${JSON.stringify({ seconds, warmup, results })}`)
}

await runBench(
  'idle',
  main,
  async () => {
    await processes.cleanup()
    await store?.stop()
  },
  (4 * (seconds + warmup) + 300) * 1000,
)
