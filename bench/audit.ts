// Audit trail benchmark. It PRINTS figures (tables and a one-line JSON summary, the line starting
// with `JSON `); it never passes or fails on them. What it does, on a throwaway PostgreSQL 15
// cluster (test/harness/postgres.ts) with a migrated store database and the service's pieces built
// as test/support/app.ts builds them (buildDeps with DATABASE_URL, a random PGA_MASTER_KEY, no
// Redis: memory state; PGA_AUDIT_CHECKPOINT_DIR in a temp directory, as production is told to):
//   1. Writers: --writers concurrent loops over the service's pool (PGA_DB_POOL_SIZE = --pool, the
//      service's default 10), each running one transaction after the other. Four phases, each
//      --warmup seconds and then a window of --seconds:
//        baseline                 BEGIN; UPDATE ... RETURNING one row of a scratch table shaped like
//                                 pga_instances; COMMIT (the change without its event);
//        audit                    the same plus recordAuditEvent(tx, ...) with the old and new row,
//                                 as src/instances/service.ts does, while ONE AuditSealer
//                                 (deps.auditSealer, the product's loop: lease in the memory state
//                                 store, batches of up to 1000, 100 ms idle poll) seals in this
//                                 process, as in every replica;
//        audit, sealer stopped    the writers' side of "audit" alone: the outbox grows. Then a new
//                                 service's sealer catches up on that backlog (sealing alone, timed);
//        audit only               BEGIN; recordAuditEvent (the same event document); COMMIT, no
//                                 change, with that sealer running: the audit trail's own capacity.
//      Per phase: commits/s, commit latency (BEGIN to COMMIT acknowledged, pool wait included)
//      p50/p99/max, CPU of this process and of the server per commit, WAL per commit, where the
//      server backends were (pg_stat_activity every 50 ms), the top statements by server time
//      (pg_stat_statements); the outbox's live and dead rows and the plan and cost of the sealer's
//      SELECT (as sealer.ts runs it) when the writers stop; with the sealer running: entries sealed
//      in the window, checkpoints, the backlog when the writers stop, the time to drain it, and the
//      sealing delay sealed_at - created_at of the window's events (from audit_logs).
//      Durability (--durability): `off` is the harness's settings (fsync, synchronous_commit and
//      full_page_writes off); `on` restarts the same cluster with all three on (the realistic
//      setting); `both` (default) runs both, off first. Then verifyTrail checks that whole trail.
//   2. Verification: a second store database; --verify-entries outbox rows inserted with SQL
//      (generate_series over an event document made by recordAuditEvent itself, with fresh ids and
//      times), sealed with sealBatch in batches of --seal-batch (sealing throughput), VACUUM
//      ANALYZE, then verifyTrail over everything (entries/s), and a read-only pass over the same
//      pages with verify.ts's page query (what the reads alone cost). Under the last durability
//      setting of part 1.
//   3. In-process costs per event: recordAuditEvent's own work (document, redaction, JSON), the
//      sealer's per-entry work (parse, hash, Merkle leaf), verifyTrail's and contentHash alone.
// Goals stated with met/missed: >= 10,000 events/s sustained with the sealer keeping up (audit and
// audit only); p99 sealing delay < 1 s; verify 1,000,000 entries in < 60 s. Only 127.0.0.1;
// before each phase it waits (up to 30 s) for the machine to be below 25 % busy, and reports other
// workloads' CPU during each window. The cluster is stopped (pg_ctl, by its data directory) on
// exit, error, Ctrl-C or the watchdog.
// Run from the repository root:
//   node_modules/.bin/bun bench/audit.ts [--writers 50] [--seconds 30] [--verify-entries 1000000]
//     [--warmup 3] [--pool 10] [--seal-batch 10000] [--durability both|off|on]
// About 8 to 10 minutes with the defaults (4 phases of 33 s per durability setting, drains,
// catch-ups, 1M entries).
import { randomBytes, randomUUID } from 'node:crypto'
import { readdirSync, readFileSync, rmSync } from 'node:fs'
import { cpus, loadavg, release, totalmem, userInfo } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import postgres from 'postgres'
import { contentHash } from '../src/audit/chain.ts'
import {
  type AuditContext,
  type AuditEvent,
  type OutboxEvent,
  recordAuditEvent,
} from '../src/audit/events.ts'
import { appendLeaf, emptyFrontier, type Frontier, leafHash } from '../src/audit/merkle.ts'
import { entryOf, sealBatch } from '../src/audit/sealer.ts'
import { loadSigningKey } from '../src/audit/signing-key.ts'
import { verifyTrail } from '../src/audit/verify.ts'
import { loadConfig } from '../src/config.ts'
import { buildDeps, type OpenDeps } from '../src/deps.ts'
import type { Db } from '../src/platform/db/database.ts'
import { readMigrationsDir } from '../src/platform/db/migration-files.ts'
import { runMigrations } from '../src/platform/db/migrations.ts'
import { createLogger } from '../src/platform/log.ts'
import { nodeRuntime } from '../src/runtime/node.ts'
import { buildInfo } from '../src/system/build-info.ts'
import { createTestDatabase, startPostgres, type TestPostgres } from '../test/harness/postgres.ts'
import { run, tempDir } from '../test/harness/processes.ts'
import {
  clockTicks,
  databaseUrl,
  fmt,
  fmtInt,
  note,
  quantile,
  round,
  runBench,
  sleep,
  table,
} from './support.ts'

const root = resolve(import.meta.dir, '..')
const goal = { eventsPerSecond: 10_000, sealingDelayP99Ms: 1000, verifySecondsPerMillion: 60 }

// ---------------------------------------------------------------------------------------------
// Options.

type Durability = 'off' | 'on'
type Options = {
  writers: number
  seconds: number
  warmup: number
  pool: number
  verifyEntries: number
  sealBatch: number
  durability: Durability[]
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
  const known = ['writers', 'seconds', 'warmup', 'pool', 'verify-entries', 'seal-batch', 'durability']
  for (const name of values.keys()) if (!known.includes(name)) throw new Error(`unknown option --${name}`)
  const int = (name: string, fallback: number, min: number, max: number) => {
    const text = values.get(name)
    const n = text === undefined ? fallback : Number(text)
    if (!Number.isInteger(n) || n < min || n > max)
      throw new Error(`--${name} must be an integer between ${min} and ${max}`)
    return n
  }
  const durability = values.get('durability') ?? 'both'
  if (!['both', 'off', 'on'].includes(durability)) throw new Error('--durability must be both, off or on')
  const writers = int('writers', 50, 1, 180)
  return {
    writers,
    seconds: int('seconds', 30, 1, 3600),
    warmup: int('warmup', 3, 0, 600),
    // The service's default PGA_DB_POOL_SIZE: the writers share it with the sealer, as requests do.
    pool: int('pool', 10, 1, 190),
    verifyEntries: int('verify-entries', 1_000_000, 0, 20_000_000),
    sealBatch: int('seal-batch', 10_000, 1, 100_000),
    durability: durability === 'both' ? ['off', 'on'] : [durability as Durability],
  }
}

// ---------------------------------------------------------------------------------------------
// Small helpers.

function connect(url: string, database: string, max = 1): postgres.Sql {
  return postgres(databaseUrl(url, database), {
    max,
    onnotice: () => {},
    connection: { application_name: 'bench-audit' },
  })
}

const databaseOf = (url: string) => new URL(url).pathname.slice(1)

// ---------------------------------------------------------------------------------------------
// /proc readings: CPU of this process, of the server's processes, of the machine.

function procCpu(pid: number): { ppid: number; cpu: number; reaped: number } | undefined {
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

/** CPU seconds of the postmaster, its live children and its reaped children. */
function serverCpu(postmaster: number): number {
  let total = 0
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    const p = procCpu(Number(name))
    if (!p) continue
    if (Number(name) === postmaster) total += p.cpu + p.reaped
    else if (p.ppid === postmaster) total += p.cpu
  }
  return total
}

const benchCpu = () => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1e6
}

function machineTicks(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? ''
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number) as number[]
  const busy = (user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (steal ?? 0)
  return { busy, total: busy + (idle ?? 0) + (iowait ?? 0) + (softirq ?? 0) }
}

type CpuMark = { at: number; bench: number; server: number; machine: { busy: number; total: number } }
const cpuMark = (postmaster: number): CpuMark => ({
  at: performance.now(),
  bench: benchCpu(),
  server: serverCpu(postmaster),
  machine: machineTicks(),
})

function machineInfo() {
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

/** Files under src/ and migrations/ that differ from the revision (the run used them as they were). */
function modifiedFiles(): string[] {
  return Bun.spawnSync(['git', 'status', '--porcelain', '--', 'src', 'migrations'], { cwd: root })
    .stdout.toString()
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
}

function revision(): string {
  const rev = Bun.spawnSync(['git', 'rev-parse', '--short', 'HEAD'], { cwd: root }).stdout.toString().trim()
  const dirty = Bun.spawnSync(['git', 'status', '--porcelain', '--', 'src', 'migrations'], { cwd: root })
    .stdout.toString()
    .trim()
  return `${rev || 'unknown'}${dirty ? ' (src/ or migrations/ modified)' : ''}`
}

// ---------------------------------------------------------------------------------------------
// The cluster's durability settings. The harness starts the server with `-c fsync=off -c
// synchronous_commit=off -c full_page_writes=off`; command-line settings win over ALTER SYSTEM,
// so the realistic setting needs a restart with those three replaced (the other options kept).

const durabilityParams = ['fsync', 'synchronous_commit', 'full_page_writes'] as const

async function clusterSettings(sql: postgres.Sql): Promise<Record<string, string>> {
  const rows = await sql<{ name: string; setting: string; unit: string | null }[]>`
    select name, setting, unit from pg_settings
     where name in ('fsync', 'synchronous_commit', 'full_page_writes', 'wal_sync_method', 'shared_buffers',
                    'max_wal_size', 'checkpoint_timeout', 'wal_level', 'max_connections', 'ssl')`
  const out: Record<string, string> = {}
  for (const r of rows) {
    out[r.name] =
      r.unit === '8kB'
        ? `${(Number(r.setting) * 8) / 1024}MB`
        : r.unit === 'MB' || r.unit === 's'
          ? `${r.setting}${r.unit}`
          : r.setting
  }
  return out
}

async function setDurability(serverUrl: string, durability: Durability): Promise<Record<string, string>> {
  let sql = connect(serverUrl, 'postgres')
  try {
    const current = await clusterSettings(sql)
    if (durabilityParams.every((p) => current[p] === durability)) return current
    const [row] = await sql<{ data_directory: string }[]>`show data_directory`
    await sql.end()
    const dataDir = (row as { data_directory: string }).data_directory
    const saved = readFileSync(join(dataDir, 'postmaster.opts'), 'utf8').trim()
    const args = [...saved.matchAll(/"([^"]*)"/g)].map((m) => m[1] as string)
    const options: string[] = []
    for (let i = 0; i < args.length; i++) {
      const arg = args[i] as string
      if (arg === '-D') {
        i++
        continue
      }
      if (arg === '-c' && durabilityParams.some((p) => (args[i + 1] ?? '').startsWith(`${p}=`))) {
        i++
        continue
      }
      options.push(arg)
    }
    for (const p of durabilityParams) options.push('-c', `${p}=${durability}`)
    const pgCtl = join(dirname(saved.split(' ')[0] as string), 'pg_ctl')
    const ctlArgs = [
      '-D',
      dataDir,
      '-o',
      options.join(' '),
      '-l',
      join(dirname(dataDir), 'server.log'),
      '-m',
      'fast',
      '-w',
      '-t',
      '120',
      'restart',
    ]
    note(`  restarting the cluster with fsync, synchronous_commit, full_page_writes = ${durability}`)
    if (userInfo().uid === 0) await run('runuser', ['-u', 'postgres', '--', pgCtl, ...ctlArgs])
    else await run(pgCtl, ctlArgs)
    sql = connect(serverUrl, 'postgres')
    const after = await clusterSettings(sql)
    const wrong = durabilityParams.filter((p) => after[p] !== durability)
    if (wrong.length) throw new Error(`after the restart ${wrong.join(', ')} are not ${durability}`)
    return after
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {})
  }
}

async function postmasterPid(sql: postgres.Sql): Promise<number> {
  const [row] = await sql<{ data_directory: string }[]>`show data_directory`
  const dataDir = (row as { data_directory: string }).data_directory
  return Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0])
}

// ---------------------------------------------------------------------------------------------
// The service's dependencies over a store database, as test/support/app.ts builds them.

const logProblems = new Map<string, number>()
const log = createLogger({
  level: 'warn',
  write: (line) => {
    const entry = JSON.parse(line) as { level?: string; msg?: string; error?: unknown }
    // buildDeps always announces the in-memory state store; that is the setup asked for.
    if (String(entry.msg).startsWith('IN-MEMORY STATE')) return
    const key = `${entry.level} ${entry.msg}${entry.error ? `: ${String(entry.error).slice(0, 200)}` : ''}`
    const count = (logProblems.get(key) ?? 0) + 1
    logProblems.set(key, count)
    if (count <= 3) note(`    service log: ${key}`)
  },
})

// Checkpoints are exported to a directory, as production is told to (PGA_AUDIT_CHECKPOINT_DIR).
const checkpointDir = tempDir('bench-audit-checkpoints')

async function openStore(url: string, masterKey: string, poolSize: number): Promise<OpenDeps> {
  const config = loadConfig({
    DATABASE_URL: url,
    PGA_AUDIT_CHECKPOINT_DIR: join(checkpointDir, databaseOf(url)),
    PGA_MASTER_KEY: masterKey,
    PGA_DB_POOL_SIZE: String(poolSize),
    // The harness cluster offers TLS; the bench measures the audit path, not TLS, over loopback.
    PGA_DB_SSL: 'disable',
    // Batches of 10,000 entries and 5,000-row verification pages stay far below this.
    PGA_DB_STATEMENT_TIMEOUT: '5m',
    PGA_LOG_LEVEL: 'warn',
  })
  const deps = await buildDeps(config, { log, assets: nodeRuntime.assets, build: buildInfo })
  try {
    await runMigrations(deps.db.sql, readMigrationsDir(), log)
    await deps.keys.start({ maintenance: false })
  } catch (error) {
    await deps.close()
    throw error
  }
  return deps
}

// ---------------------------------------------------------------------------------------------
// The writers' change: a row shaped like pga_instances, updated with its audit event.

const scratchRows = 10_000

type InstanceRow = {
  id: string
  name: string
  host: string
  port: number
  database: string
  username: string
  sslmode: string
  tags: Record<string, string>
  intervals: Record<string, number>
  version: number
  createdAt: Date
  updatedAt: Date
}

async function createScratch(sql: postgres.Sql): Promise<void> {
  await sql`
    create table if not exists bench_instances (
      id uuid primary key default gen_random_uuid(),
      name text not null unique,
      host text not null,
      port integer not null,
      database text not null,
      username text not null,
      sslmode text not null,
      tags jsonb not null default '{}',
      intervals jsonb not null default '{}',
      version integer not null default 1,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now())`
  await sql`
    insert into bench_instances (name, host, port, database, username, sslmode, tags, intervals)
    select 'db-' || lpad(i::text, 5, '0'), 'pg-' || i || '.internal.example.com', 5432, 'app_' || (i % 20),
           'pga_monitor', 'verify-full', jsonb_build_object('env', 'prod', 'team', 'team-' || (i % 12)),
           '{"statements": 60, "tables": 300}'::jsonb
      from generate_series(1, ${scratchRows}) as i
    on conflict do nothing`
  await sql`vacuum analyze bench_instances`
}

const presentRow = (row: InstanceRow) => ({
  id: row.id,
  name: row.name,
  host: row.host,
  port: row.port,
  database: row.database,
  username: row.username,
  sslmode: row.sslmode,
  tags: row.tags,
  intervals: row.intervals,
  version: row.version,
  hasPassword: true,
  hasSslRootCert: false,
  createdAt: row.createdAt.toISOString(),
  updatedAt: row.updatedAt.toISOString(),
})

const userAgent =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36'
const contextOf = (writer: number): AuditContext => ({
  actor: { type: 'user', id: randomUUID(), sessionId: randomUUID() },
  requestId: randomUUID(),
  ip: `10.20.${writer % 250}.${(writer * 7) % 250}`,
  userAgent,
})

function instanceEvent(before: InstanceRow, after: InstanceRow): AuditEvent {
  return {
    eventType: 'instance.updated',
    resourceType: 'instance',
    resourceId: before.id,
    action: 'update',
    changes: { port: true, tags: true },
    oldValues: presentRow(before),
    newValues: presentRow(after),
  }
}

// ---------------------------------------------------------------------------------------------
// Part 1: one phase of writers.

type Waits = Map<string, number>

type SealingResult = {
  sealedInWindow: number
  sealedPerSecond: number
  checkpointsInWindow: number
  meanBatch: number
  backlogMaxDuringWindow: number
  backlogAtEnd: number
  drainSeconds: number
  drained: boolean
  eventsInWindow: number
  delayMs: { p50: number; p99: number; max: number }
  keptUp: boolean
}

type PhaseKind = 'baseline' | 'audit' | 'audit, sealer stopped' | 'audit only'

/** The outbox when the writers stop, and what the sealer's SELECT costs then. */
type OutboxState = {
  live: number
  dead: number
  autovacuumsInPhase: number
  sealerSelectMs: number
  sealerSelectBuffers: number
  sealerSelectPlan: string
}

/** A sealer started on the backlog the phase left (a fresh service, as after a restart). */
type CatchUp = {
  backlog: number
  seconds: number
  entriesPerSecond: number
  checkpoints: number
  benchUsPerEntry: number
  serverUsPerEntry: number
  drained: boolean
}

type PhaseResult = {
  durability: Durability
  kind: PhaseKind
  /** Machine busy (% of all CPUs) over the last second before the phase, after waiting for < 25 %. */
  quietBefore: { waitedSeconds: number; busyPercent: number }
  windowSeconds: number
  commits: number
  perSecond: number
  errors: number
  latencyMs: { p50: number; p99: number; max: number }
  cpu: {
    benchPercent: number
    serverPercent: number
    machinePercent: number
    /** Machine busy minus this process and the server: other workloads on the machine. */
    otherPercent: number
    benchUsPerTxn: number
    serverUsPerTxn: number
  }
  wal: { bytesPerTxn: number; recordsPerTxn: number; fpiPerTxn: number; syncs: number; syncMsTotal: number }
  waits: { what: string; share: number }[]
  statements: (StatementTime & { sharePercent: number })[]
  sealing: SealingResult | null
  outbox: OutboxState | null
  catchUp: CatchUp | null
}

type StatWal = {
  wal_records: string
  wal_fpi: string
  wal_bytes: string
  wal_sync: string
  wal_sync_time: number
}
const statWal = async (sql: postgres.Sql) =>
  (
    await sql<StatWal[]>`
    select wal_records::text, wal_fpi::text, wal_bytes::text, wal_sync::text, wal_sync_time from pg_stat_wal`
  )[0] as StatWal

type StatementTime = { query: string; calls: number; totalMs: number; meanMs: number }

/** The statements of this database with the most server time since the last reset. */
async function topStatements(sql: postgres.Sql, limit: number): Promise<StatementTime[]> {
  const rows = await sql<{ query: string; calls: string; total: number }[]>`
    select regexp_replace(query, '\\s+', ' ', 'g') as query, calls::text, total_exec_time as total
      from pg_stat_statements
     where dbid = (select oid from pg_database where datname = current_database())
       and query not like '%pg_stat%'
     order by total_exec_time desc limit ${limit}`
  return rows.map((r) => ({
    query: r.query.length > 90 ? `${r.query.slice(0, 87)}...` : r.query,
    calls: Number(r.calls),
    totalMs: r.total,
    meanMs: r.total / Math.max(1, Number(r.calls)),
  }))
}

async function sampleWaits(monitor: postgres.Sql, database: string, until: () => boolean): Promise<Waits> {
  const waits: Waits = new Map()
  while (!until()) {
    const rows = await monitor<{ state: string | null; t: string | null; e: string | null }[]>`
      select state, wait_event_type as t, wait_event as e from pg_stat_activity
       where datname = ${database} and backend_type = 'client backend' and pid <> pg_backend_pid()`
    for (const r of rows) {
      const key =
        r.state === 'active'
          ? r.t
            ? `active, waiting ${r.t}:${r.e}`
            : 'active, running (CPU)'
          : r.state === 'idle in transaction'
            ? 'idle in transaction (waiting for the client)'
            : `${r.state ?? '?'} (between transactions)`
      waits.set(key, (waits.get(key) ?? 0) + 1)
    }
    await sleep(50)
  }
  return waits
}

/** Waits (up to budgetMs) until the machine is below 25 % busy over one second: other workloads. */
async function waitForQuiet(budgetMs: number): Promise<{ waitedSeconds: number; busyPercent: number }> {
  const started = performance.now()
  let busyPercent = Number.NaN
  do {
    const a = machineTicks()
    await sleep(1000)
    const b = machineTicks()
    busyPercent = (100 * (b.busy - a.busy)) / Math.max(1, b.total - a.total)
  } while (busyPercent >= 25 && performance.now() - started < budgetMs)
  return { waitedSeconds: (performance.now() - started) / 1000, busyPercent }
}

async function runPhase(
  deps: OpenDeps,
  admin: postgres.Sql,
  monitor: postgres.Sql,
  postmaster: number,
  options: Options,
  durability: Durability,
  kind: PhaseKind,
): Promise<PhaseResult> {
  const audit = kind !== 'baseline'
  const change = kind !== 'audit only'
  const sealerRunning = kind !== 'audit, sealer stopped'
  const sql = deps.db.sql
  const database = databaseOf(deps.config.store.kind === 'postgres' ? deps.config.store.url : '')
  note(
    `  ${durability === 'on' ? 'durable' : 'harness'} settings, ${kind}: ${options.writers} writers, ${options.warmup} s warm-up + ${options.seconds} s`,
  )
  const quiet = await waitForQuiet(30_000)
  if (quiet.busyPercent >= 25)
    note(
      `    the machine is still ${fmt(quiet.busyPercent, 0)} % busy after ${fmt(quiet.waitedSeconds, 0)} s: going on`,
    )
  const rows = await sql<InstanceRow[]>`
    select id::text, name, host, port, database, username, sslmode, tags, intervals, version,
           created_at as "createdAt", updated_at as "updatedAt"
      from bench_instances order by name`
  const autovacuums = async () =>
    (
      await admin<{ n: number }[]>`
        select (autovacuum_count + vacuum_count)::int as n from pg_stat_user_tables where relname = 'audit_outbox'`
    )[0]?.n ?? 0
  const autovacuumsBefore = await autovacuums()
  const started = performance.now()
  const windowStart = started + options.warmup * 1000
  const end = windowStart + options.seconds * 1000
  let windowStartWall = new Date(Date.now() + options.warmup * 1000)
  let windowEndWall = new Date(windowStartWall.getTime() + options.seconds * 1000)
  const latencies: number[] = []
  let commits = 0
  let errors = 0
  let firstError: unknown

  const writer = async (w: number) => {
    const own = rows.filter((_, i) => i % options.writers === w)
    if (own.length === 0) return
    const ctx = contextOf(w)
    for (let k = 0; performance.now() < end; k++) {
      const index = k % own.length
      const before = own[index] as InstanceRow
      const port = 5432 + (k % 100)
      const tags = { env: 'prod', team: `team-${w % 12}`, rollout: String(k) }
      const t0 = performance.now()
      try {
        const after = await sql.begin(async (tx) => {
          // Audit only: the same event document, its new row made here instead of by the UPDATE.
          const [updated] = change
            ? await tx<InstanceRow[]>`
                update bench_instances set port = ${port}, tags = ${tx.json(tags)}, version = version + 1,
                       updated_at = now()
                 where id = ${before.id}
                returning id::text, name, host, port, database, username, sslmode, tags, intervals, version,
                          created_at as "createdAt", updated_at as "updatedAt"`
            : [{ ...before, port, tags, version: before.version + 1, updatedAt: new Date() }]
          if (!updated) throw new Error(`row ${before.id} is gone`)
          if (audit)
            await recordAuditEvent(tx, { ...ctx, requestId: randomUUID() }, instanceEvent(before, updated))
          return updated
        })
        own[index] = after as InstanceRow
        const t1 = performance.now()
        if (t0 >= windowStart) latencies.push(t1 - t0)
        if (t1 >= windowStart && t1 <= end) commits++
      } catch (error) {
        errors++
        firstError ??= error
        await sleep(10)
      }
    }
  }

  // Window bookkeeping runs beside the writers.
  let measuring = false
  let before: { cpu: CpuMark; wal: StatWal } | undefined
  let after: { cpu: CpuMark; wal: StatWal } | undefined
  let backlogMax = 0
  const bookkeeping = (async () => {
    await sleep(windowStart - performance.now())
    await admin`select pg_stat_statements_reset()`
    windowStartWall = new Date()
    before = { cpu: cpuMark(postmaster), wal: await statWal(admin) }
    measuring = true
    const waits = sampleWaits(monitor, database, () => performance.now() >= end)
    if (audit && sealerRunning) {
      while (performance.now() < end - 1000) {
        const [row] = await admin<{ n: number }[]>`select count(*)::int as n from audit_outbox`
        backlogMax = Math.max(backlogMax, row?.n ?? 0)
        await sleep(Math.min(1000, end - 1000 - performance.now()))
      }
    }
    await sleep(end - performance.now())
    windowEndWall = new Date()
    after = { cpu: cpuMark(postmaster), wal: await statWal(admin) }
    measuring = false
    return waits
  })()
  // Something stuck past the window: say what every store connection is doing, every 30 s.
  let stage = 'writers'
  let writing = options.writers
  const stall = setInterval(() => {
    if (performance.now() < end + 30_000) return
    void monitor<{ state: string | null; wait: string | null; age: number | null; query: string }[]>`
      select state, wait_event_type || ':' || wait_event as wait,
             extract(epoch from clock_timestamp() - xact_start)::float8 as age, left(query, 100) as query
        from pg_stat_activity where datname = ${database} and pid <> pg_backend_pid()
       order by xact_start nulls last limit 12`
      .then((rows) => {
        note(
          `    still in stage "${stage}" ${fmt((performance.now() - end) / 1000, 0)} s after the window, ${writing} writers running`,
        )
        for (const r of rows) note(`      ${r.state} ${r.wait ?? ''} xact ${fmt(r.age, 1)} s: ${r.query}`)
      })
      .catch((error: unknown) => note(`    stall report failed: ${String(error)}`))
  }, 30_000)
  try {
    await Promise.all(
      Array.from({ length: options.writers }, async (_, w) => {
        await writer(w)
        writing--
      }),
    )
    stage = 'bookkeeping'
    return await finishPhase()
  } finally {
    clearInterval(stall)
  }

  async function finishPhase(): Promise<PhaseResult> {
    const waits = await bookkeeping
    if (!before || !after || measuring) throw new Error('window bookkeeping did not finish')
    if (errors) note(`    ${errors} transactions failed; first: ${String(firstError)}`)

    const statements = await topStatements(admin, 8)

    let outbox: OutboxState | null = null
    if (audit) {
      const [t] = await admin<{ live: number; dead: number }[]>`
        select n_live_tup::int as live, n_dead_tup::int as dead from pg_stat_user_tables where relname = 'audit_outbox'`
      const [plan] = await admin.unsafe(
        'explain (analyze, buffers, format json) select id::text, event from audit_outbox order by audit_outbox.id limit 1000',
      )
      const root = (Object.values(plan ?? {})[0] as { Plan: ExplainNode; 'Execution Time': number }[])[0]
      const nodes = (n: ExplainNode | undefined): string =>
        n ? `${n['Node Type']}${n.Plans?.length ? ` > ${n.Plans.map((c) => nodes(c)).join(', ')}` : ''}` : '?'
      outbox = {
        live: t?.live ?? 0,
        dead: t?.dead ?? 0,
        autovacuumsInPhase: (await autovacuums()) - autovacuumsBefore,
        sealerSelectMs: root?.['Execution Time'] ?? Number.NaN,
        sealerSelectBuffers: (root?.Plan['Shared Hit Blocks'] ?? 0) + (root?.Plan['Shared Read Blocks'] ?? 0),
        sealerSelectPlan: nodes(root?.Plan),
      }
    }
    let sealing: SealingResult | null = null
    if (audit && sealerRunning) {
      const [backlog] = await admin<{ n: number }[]>`select count(*)::int as n from audit_outbox`
      const backlogAtEnd = backlog?.n ?? 0
      // Let the sealer finish what the window wrote (bounded), then read the window's entries.
      const drainStarted = performance.now()
      let left = backlogAtEnd
      stage = 'drain'
      let nextNote = drainStarted + 5000
      while (left > 0 && performance.now() - drainStarted < 300_000) {
        deps.auditSealer.nudge()
        await sleep(100)
        const [row] = await admin<{ n: number }[]>`select count(*)::int as n from audit_outbox`
        left = row?.n ?? 0
        if (performance.now() > nextNote) {
          note(`    draining the outbox: ${fmtInt(left)} events left`)
          nextNote += 5000
        }
      }
      stage = 'delays'
      const drainSeconds = backlogAtEnd === 0 ? 0 : (performance.now() - drainStarted) / 1000
      const [sealed] = await admin<{ n: number }[]>`
      select count(*)::int as n from audit_logs where sealed_at >= ${windowStartWall} and sealed_at < ${windowEndWall}`
      const [checkpoints] = await admin<{ n: number }[]>`
      select count(*)::int as n from audit_log_verification
       where created_at >= ${windowStartWall} and created_at < ${windowEndWall}`
      const [delay] = await admin<{ n: number; p50: number; p99: number; max: number }[]>`
      select count(*)::int as n,
             percentile_cont(0.5) within group (order by extract(epoch from sealed_at - created_at)) * 1000 as p50,
             percentile_cont(0.99) within group (order by extract(epoch from sealed_at - created_at)) * 1000 as p99,
             max(extract(epoch from sealed_at - created_at)) * 1000 as max
        from audit_logs where created_at >= ${windowStartWall} and created_at < ${windowEndWall}`
      const windowSeconds = (windowEndWall.getTime() - windowStartWall.getTime()) / 1000
      const sealedInWindow = sealed?.n ?? 0
      const commitRate = commits / windowSeconds
      sealing = {
        sealedInWindow,
        sealedPerSecond: sealedInWindow / windowSeconds,
        checkpointsInWindow: checkpoints?.n ?? 0,
        meanBatch: sealedInWindow / Math.max(1, checkpoints?.n ?? 0),
        backlogMaxDuringWindow: backlogMax,
        backlogAtEnd,
        drainSeconds,
        drained: left === 0,
        eventsInWindow: delay?.n ?? 0,
        delayMs: { p50: Number(delay?.p50), p99: Number(delay?.p99), max: Number(delay?.max) },
        // Kept up: less than a second of events waiting when the writers stopped.
        keptUp: left === 0 && backlogAtEnd <= Math.max(1000, commitRate),
      }
    }

    const wallSeconds = (after.cpu.at - before.cpu.at) / 1000
    const benchSeconds = after.cpu.bench - before.cpu.bench
    const serverSeconds = after.cpu.server - before.cpu.server
    const machineBusy = after.cpu.machine.busy - before.cpu.machine.busy
    const machineTotal = after.cpu.machine.total - before.cpu.machine.total
    const totalStatementMs = statements.reduce((s, r) => s + r.totalMs, 0)
    const sortedLatencies = latencies.sort((a, b) => a - b)
    const samples = [...waits.values()].reduce((s, n) => s + n, 0)
    const walDelta = (k: keyof StatWal) => Number(after?.wal[k]) - Number(before?.wal[k])
    return {
      durability,
      kind,
      quietBefore: quiet,
      windowSeconds: wallSeconds,
      commits,
      perSecond: commits / wallSeconds,
      errors,
      latencyMs: {
        p50: quantile(sortedLatencies, 0.5),
        p99: quantile(sortedLatencies, 0.99),
        max: sortedLatencies.at(-1) ?? Number.NaN,
      },
      cpu: {
        benchPercent: (100 * benchSeconds) / wallSeconds,
        serverPercent: (100 * serverSeconds) / wallSeconds,
        machinePercent: (100 * cpus().length * machineBusy) / Math.max(1, machineTotal),
        otherPercent: Math.max(
          0,
          (100 * cpus().length * machineBusy) / Math.max(1, machineTotal) -
            (100 * (benchSeconds + serverSeconds)) / wallSeconds,
        ),
        benchUsPerTxn: (benchSeconds * 1e6) / commits,
        serverUsPerTxn: (serverSeconds * 1e6) / commits,
      },
      wal: {
        bytesPerTxn: walDelta('wal_bytes') / commits,
        recordsPerTxn: walDelta('wal_records') / commits,
        fpiPerTxn: walDelta('wal_fpi') / commits,
        syncs: walDelta('wal_sync'),
        syncMsTotal: walDelta('wal_sync_time'),
      },
      waits: [...waits.entries()]
        .sort((a, b) => b[1] - a[1])
        .map(([what, n]) => ({ what, share: n / Math.max(1, samples) })),
      statements: statements.map((s) => ({
        ...s,
        sharePercent: (100 * s.totalMs) / Math.max(1e-9, totalStatementMs),
      })),
      sealing,
      outbox,
      catchUp: null,
    }
  }
}

type ExplainNode = {
  'Node Type': string
  'Shared Hit Blocks'?: number
  'Shared Read Blocks'?: number
  Plans?: ExplainNode[]
}

/** Starts a fresh service's sealer on the outbox backlog and times it until the outbox is empty. */
async function catchUp(deps: OpenDeps, admin: postgres.Sql, postmaster: number): Promise<CatchUp> {
  const [row] = await admin<{ n: number }[]>`select count(*)::int as n from audit_outbox`
  const backlog = row?.n ?? 0
  note(`  catch-up: a new sealer on ${fmtInt(backlog)} waiting events`)
  const startedWall = new Date()
  const before = cpuMark(postmaster)
  deps.auditSealer.start()
  let left = backlog
  let nextNote = performance.now() + 5000
  while (left > 0 && performance.now() - before.at < 600_000) {
    await sleep(50)
    const [r] = await admin<{ n: number }[]>`select count(*)::int as n from audit_outbox`
    left = r?.n ?? 0
    if (performance.now() > nextNote) {
      note(`    ${fmtInt(left)} events left`)
      nextNote += 5000
    }
  }
  const after = cpuMark(postmaster)
  const seconds = (after.at - before.at) / 1000
  const [cp] = await admin<{ n: number }[]>`
    select count(*)::int as n from audit_log_verification where created_at >= ${startedWall}`
  return {
    backlog,
    seconds,
    entriesPerSecond: backlog / seconds,
    checkpoints: cp?.n ?? 0,
    benchUsPerEntry: ((after.bench - before.bench) * 1e6) / Math.max(1, backlog),
    serverUsPerEntry: ((after.server - before.server) * 1e6) / Math.max(1, backlog),
    drained: left === 0,
  }
}

// ---------------------------------------------------------------------------------------------
// Part 2: a trail of N entries, sealed in bulk, then verified.

/** The document recordAuditEvent writes, captured by a stand-in for the database. */
async function outboxDocument(ctx: AuditContext, event: AuditEvent): Promise<OutboxEvent> {
  let doc: OutboxEvent | undefined
  const capture = Object.assign(
    (_strings: TemplateStringsArray, ...values: unknown[]) => {
      doc = values[0] as OutboxEvent
      return Promise.resolve([])
    },
    { json: (value: unknown) => value },
  )
  await recordAuditEvent(capture as unknown as Db, ctx, event)
  if (!doc) throw new Error('recordAuditEvent wrote nothing')
  return doc
}

function sampleRow(i: number): InstanceRow {
  const at = new Date(Date.UTC(2026, 10, 21, 12, 0, 0, i))
  return {
    id: randomUUID(),
    name: `db-${String(i).padStart(5, '0')}`,
    host: `pg-${i}.internal.example.com`,
    port: 5432,
    database: `app_${i % 20}`,
    username: 'pga_monitor',
    sslmode: 'verify-full',
    tags: { env: 'prod', team: `team-${i % 12}` },
    intervals: { statements: 60, tables: 300 },
    version: i,
    createdAt: at,
    updatedAt: at,
  }
}

type VerifyPart = {
  entries: number
  durability: Durability
  outboxInsertSeconds: number
  sealing: {
    batch: number
    checkpoints: number
    seconds: number
    entriesPerSecond: number
    firstTenthPerSecond: number
    lastTenthPerSecond: number
    statements: StatementTime[]
  }
  vacuumSeconds: number
  tableMiB: number
  verify: {
    valid: boolean
    checkedEntries: number
    checkedCheckpoints: number
    seconds: number
    entriesPerSecond: number
    statements: StatementTime[]
  }
  problem: string | null
  /** The same pages read with verify.ts's page query, no checks: what the reads alone cost. */
  readOnly: { seconds: number; entriesPerSecond: number }
  secondsPerMillion: number
}

const verifyColumns = `id::float8, event_id::text, event_type, resource_type, resource_id, action, outcome, actor_type,
  actor_id, session_id, request_id, ip_address, user_agent, changes, old_values, new_values, created_at, sealed_at,
  previous_hash, content_hash`

async function verifyPart(
  pg: TestPostgres,
  masterKey: string,
  options: Options,
  durability: Durability,
): Promise<VerifyPart> {
  const n = options.verifyEntries
  note(`verification: a trail of ${fmtInt(n)} entries in a second store database`)
  const url = await createTestDatabase(pg.url, 'pga_bench_verify')
  const deps = await openStore(url, masterKey, 4)
  const admin = connect(pg.url, databaseOf(url))
  try {
    const db = deps.db.sql
    await admin`create extension if not exists pg_stat_statements`
    const key = await loadSigningKey(db, deps.keys.keyring())
    const template = await outboxDocument(contextOf(1), instanceEvent(sampleRow(1), sampleRow(2)))
    const templateText = JSON.stringify(template)
    note('  inserting the outbox rows (SQL, generate_series)')
    const insertStarted = performance.now()
    for (let from = 1; from <= n; from += 100_000) {
      const to = Math.min(n, from + 99_999)
      await admin`
        insert into audit_outbox (event)
        select ${templateText}::text::jsonb || jsonb_build_object(
                 'eventId', gen_random_uuid()::text,
                 'requestId', gen_random_uuid()::text,
                 'resourceId', '00000000-0000-4000-8000-' || lpad(to_hex(i % ${scratchRows}), 12, '0'),
                 'newValues', (${templateText}::text::jsonb -> 'newValues')
                              || jsonb_build_object('port', 5432 + i % 100, 'version', i),
                 'createdAt', to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
          from generate_series(${from}::bigint, ${to}::bigint) as i`
    }
    await admin`analyze audit_outbox`
    const outboxInsertSeconds = (performance.now() - insertStarted) / 1000
    const batch = options.sealBatch
    note(`  sealing with sealBatch, ${fmtInt(batch)} per batch`)
    await admin`select pg_stat_statements_reset()`
    const batchMs: number[] = []
    const sealStarted = performance.now()
    let nextNote = 0.1
    for (;;) {
      const t = performance.now()
      const checkpoint = await sealBatch(db, key, batch)
      if (!checkpoint) break
      batchMs.push(performance.now() - t)
      if (checkpoint.tree_size >= n * nextNote) {
        note(`    ${fmtInt(checkpoint.tree_size)} sealed, ${fmt((performance.now() - sealStarted) / 1000)} s`)
        nextNote += 0.1
      }
    }
    const sealSeconds = (performance.now() - sealStarted) / 1000
    const sealStatements = await topStatements(admin, 5)
    const tenth = Math.max(1, Math.floor(batchMs.length / 10))
    const rate = (ms: number[]) => (ms.length * batch) / (ms.reduce((s, x) => s + x, 0) / 1000)

    // A settled trail, as autovacuum would leave it: hint bits set, visibility map, statistics.
    note('  vacuum analyze audit_logs')
    const vacuumStarted = performance.now()
    await admin`checkpoint`
    await admin`vacuum analyze audit_logs`
    const vacuumSeconds = (performance.now() - vacuumStarted) / 1000
    const [size] = await admin<
      { bytes: string }[]
    >`select pg_total_relation_size('audit_logs')::text as bytes`
    note('  verifyTrail over everything')
    await admin`select pg_stat_statements_reset()`
    const verifyStarted = performance.now()
    const result = await verifyTrail(db)
    const verifySeconds = (performance.now() - verifyStarted) / 1000
    const verifyStatements = await topStatements(admin, 5)

    note("  read-only pass (verify.ts's page query, no checks)")
    const readStarted = performance.now()
    let last = 0
    let read = 0
    for (;;) {
      const rows = await db.unsafe<{ id: number }[]>(
        `select ${verifyColumns} from audit_logs where id > $1 order by audit_logs.id limit 5000`,
        [last],
      )
      if (rows.length === 0) break
      read += rows.length
      last = (rows.at(-1) as { id: number }).id
    }
    const readSeconds = (performance.now() - readStarted) / 1000
    if (read !== n) note(`    the read-only pass read ${read} rows, expected ${n}`)

    return {
      entries: n,
      durability,
      outboxInsertSeconds,
      sealing: {
        batch,
        checkpoints: batchMs.length,
        seconds: sealSeconds,
        entriesPerSecond: n / sealSeconds,
        firstTenthPerSecond: rate(batchMs.slice(0, tenth)),
        lastTenthPerSecond: rate(batchMs.slice(-tenth)),
        statements: sealStatements,
      },
      vacuumSeconds,
      tableMiB: Number(size?.bytes ?? 0) / 2 ** 20,
      verify: {
        valid: result.valid,
        checkedEntries: result.checkedEntries,
        checkedCheckpoints: result.checkedCheckpoints,
        seconds: verifySeconds,
        entriesPerSecond: result.checkedEntries / verifySeconds,
        statements: verifyStatements,
      },
      problem: result.problem ? JSON.stringify(result.problem) : null,
      readOnly: { seconds: readSeconds, entriesPerSecond: read / readSeconds },
      secondsPerMillion: (verifySeconds * 1_000_000) / Math.max(1, result.checkedEntries),
    }
  } finally {
    await admin.end({ timeout: 1 }).catch(() => {})
    await deps.close()
  }
}

// ---------------------------------------------------------------------------------------------
// Part 3: in-process costs per event, without the database.

async function inProcessCosts() {
  const ctx = contextOf(3)
  const events = Array.from({ length: 1000 }, (_, i) => instanceEvent(sampleRow(i), sampleRow(i + 1)))
  // recordAuditEvent: the document, redaction, and the JSON text postgres.js sends.
  const stand = Object.assign(() => Promise.resolve([]), { json: (value: unknown) => JSON.stringify(value) })
  const record = async () => {
    for (const event of events) await recordAuditEvent(stand as unknown as Db, ctx, event)
  }
  const docs = await Promise.all(events.map((e) => outboxDocument(ctx, e)))
  const docTexts = docs.map((d) => JSON.stringify(d))
  // The sealer's per-entry work, as sealer.ts does it: the outbox document parsed (postgres.js
  // parses jsonb), the entry built and hashed, the Merkle frontier extended, and the ids and hashes
  // gathered for the statement that moves the rows inside the server.
  let frontier: Frontier = emptyFrontier()
  const seal = () => {
    const sealedAt = new Date().toISOString()
    const ids: number[] = []
    const previousHashes: string[] = []
    const hashes: string[] = []
    let previous = '0'.repeat(64)
    for (const text of docTexts) {
      const entry = entryOf(JSON.parse(text) as OutboxEvent, frontier.size + 1, sealedAt, previous)
      const hash = contentHash(entry)
      ids.push(entry.id)
      previousHashes.push(previous)
      hashes.push(hash)
      frontier = appendLeaf(frontier, leafHash(Buffer.from(hash, 'hex')))
      previous = hash
    }
    return hashes.length
  }
  const sample = docs[0] as OutboxEvent
  const entry = entryOf(sample, 1, sample.createdAt, '0'.repeat(64))
  const hashOnly = () => {
    for (let i = 0; i < 1000; i++) contentHash(entry)
  }
  // verifyTrail's per-entry work (a copy of its loop): dates to ISO text, the entry without its
  // hash, contentHash, the Merkle leaf and frontier.
  const stored = docs.map((d, i) => ({
    ...entry,
    id: i + 1,
    event_id: d.eventId,
    old_values: d.oldValues,
    new_values: d.newValues,
    created_at: new Date(d.createdAt) as unknown as string,
    sealed_at: new Date(d.createdAt) as unknown as string,
    content_hash: 'ab'.repeat(32),
  }))
  let verifyFrontier: Frontier = emptyFrontier()
  const iso = (value: unknown) => (value instanceof Date ? value.toISOString() : String(value))
  const verifyLoop = () => {
    for (const row of stored) {
      const { content_hash, ...rest } = {
        ...row,
        created_at: iso(row.created_at),
        sealed_at: iso(row.sealed_at),
      }
      if (contentHash(rest) === content_hash) throw new Error('unexpected')
      verifyFrontier = appendLeaf(verifyFrontier, leafHash(Buffer.from(content_hash, 'hex')))
    }
  }
  // µs per event: the best of 5 rounds (each `rounds` × 1,000 events), so a busy moment on a
  // shared machine does not count.
  const time = async (fn: () => unknown, rounds: number) => {
    await fn()
    let best = Number.POSITIVE_INFINITY
    for (let k = 0; k < 5; k++) {
      const t = performance.now()
      for (let r = 0; r < rounds; r++) await fn()
      best = Math.min(best, ((performance.now() - t) * 1000) / (rounds * 1000))
    }
    return best
  }
  return {
    documentBytes: (docTexts[0] ?? '').length,
    recordAuditEventUs: await time(record, 4),
    sealPerEntryUs: await time(seal, 4),
    contentHashUs: await time(hashOnly, 4),
    verifyPerEntryUs: await time(verifyLoop, 4),
  }
}

// ---------------------------------------------------------------------------------------------

const stops: { name: string; run: () => Promise<void> }[] = [
  { name: 'checkpoint directory', run: async () => rmSync(checkpointDir, { recursive: true, force: true }) },
]
let cleaningUp: Promise<void> | undefined
function cleanup(): Promise<void> {
  cleaningUp ??= (async () => {
    for (const { name, run: stop } of stops.reverse())
      await stop().catch((error: unknown) => console.error(`cleanup of ${name} failed:`, error))
  })()
  return cleaningUp
}

async function main(options: Options) {
  const date = new Date().toISOString()
  const rev = revision()
  const modified = modifiedFiles()
  const m = machineInfo()
  const loadBefore = loadavg()
  note(
    `audit bench: ${options.writers} writers, ${options.seconds} s windows, pool ${options.pool}, durability ${options.durability.join(' then ')}, verify ${fmtInt(options.verifyEntries)} entries`,
  )
  note('  in-process costs (before anything else runs)')
  const costs = await inProcessCosts()
  note('  starting PostgreSQL')
  const pg = await startPostgres()
  stops.push({
    name: 'postgres',
    run: async () => {
      await pg.stop()
      rmSync(dirname(pg.caFile), { recursive: true, force: true })
    },
  })
  const masterKey = randomBytes(32).toString('base64')
  const storeUrl = await createTestDatabase(pg.url, 'pga_bench_store')
  const store = databaseOf(storeUrl)
  {
    const admin = connect(pg.url, store)
    await admin`create extension if not exists pg_stat_statements`
    // WAL flush time in pg_stat_wal (not set on the command line, so ALTER SYSTEM applies).
    await admin`alter system set track_wal_io_timing = on`
    await admin`select pg_reload_conf()`
    await admin.end()
  }

  const phases: PhaseResult[] = []
  const settingsByMode: Partial<Record<Durability, Record<string, string>>> = {}
  let trailCheck:
    | { valid: boolean; entries: number; checkpoints: number; seconds: number; problem: string | null }
    | undefined
  for (const [index, durability] of options.durability.entries()) {
    settingsByMode[durability] = await setDurability(pg.url, durability)
    let deps = await openStore(storeUrl, masterKey, options.pool)
    const admin = connect(pg.url, store, 2)
    const monitor = connect(pg.url, store)
    try {
      const postmaster = await postmasterPid(admin)
      if (index === 0) await createScratch(deps.db.sql)
      // The signing key exists before the sealer's first batch (created once, as a replica would).
      await loadSigningKey(deps.db.sql, deps.keys.keyring())
      deps.auditSealer.start()
      for (const kind of ['baseline', 'audit'] as const) {
        await admin`checkpoint`
        phases.push(await runPhase(deps, admin, monitor, postmaster, options, durability, kind))
      }
      // The writers' side alone: the sealer stopped, the outbox grows. Then a new service's
      // sealer catches up on that backlog (what one sealer does with nothing else running).
      await deps.auditSealer.stop()
      await admin`checkpoint`
      const stopped = await runPhase(
        deps,
        admin,
        monitor,
        postmaster,
        options,
        durability,
        'audit, sealer stopped',
      )
      await deps.close()
      deps = await openStore(storeUrl, masterKey, options.pool)
      stopped.catchUp = await catchUp(deps, admin, postmaster)
      phases.push(stopped)
      // The audit trail's own capacity: events without a change, that sealer running.
      await admin`checkpoint`
      phases.push(await runPhase(deps, admin, monitor, postmaster, options, durability, 'audit only'))
      if (index === options.durability.length - 1) {
        note('  verifyTrail over the trail the writers and the sealer made')
        const t = performance.now()
        const result = await verifyTrail(deps.db.sql)
        trailCheck = {
          valid: result.valid,
          entries: result.checkedEntries,
          checkpoints: result.checkedCheckpoints,
          seconds: (performance.now() - t) / 1000,
          problem: result.problem ? JSON.stringify(result.problem) : null,
        }
      }
    } finally {
      await Promise.allSettled([admin.end({ timeout: 1 }), monitor.end({ timeout: 1 })])
      await deps.close()
    }
  }

  // ----- Output.
  const label = (p: PhaseResult) => `${p.durability === 'on' ? 'durable' : 'harness'}, ${p.kind}`
  // The phases with the sealer running: audit and audit only.
  const sealedPhases = phases.filter((p) => p.sealing)
  const out: string[] = []
  const flush = () => {
    process.stdout.write(`${out.join('\n')}\n`)
    out.length = 0
  }
  out.push(`pgAnalytics audit trail benchmark, ${date}`)
  out.push(`command: node_modules/.bin/bun bench/audit.ts ${process.argv.slice(2).join(' ')}`.trimEnd())
  out.push(`revision ${rev}; in-process: buildDeps, pool ${options.pool} (PGA_DB_SSL=disable), memory state`)
  if (modified.length) out.push(`working tree at start: ${modified.join(', ')}`)
  out.push(
    `machine: ${m.nproc} CPUs, ${m.cpu}, ${m.memoryGiB} GiB RAM, Linux ${m.kernel}; bun ${m.bun}; PostgreSQL ${pg.version}; load average before/after ${loadBefore.map((x) => x.toFixed(2)).join(' ')} / ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  )
  for (const [mode, s] of Object.entries(settingsByMode))
    out.push(
      `cluster (${mode === 'on' ? 'durable' : 'harness'}): ${Object.entries(s)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')}`,
    )
  out.push('')
  out.push(
    `Writers: ${options.writers} concurrent, each BEGIN; UPDATE ... RETURNING one row; [recordAuditEvent]; COMMIT (audit only: BEGIN; recordAuditEvent; COMMIT). ${options.warmup} s warm-up, ${options.seconds} s window. One AuditSealer (batch 1000, checkpoints exported to a directory) runs except in the sealer-stopped phase.`,
  )
  out.push(
    table(
      [
        'phase',
        'commits/s',
        'p50 ms',
        'p99 ms',
        'max ms',
        'errors',
        'bench CPU µs/tx',
        'server CPU µs/tx',
        'WAL B/tx',
        'bench %',
        'server %',
        'machine %',
        'other %',
      ],
      phases.map((p) => [
        label(p),
        fmtInt(p.perSecond),
        fmt(p.latencyMs.p50, 2),
        fmt(p.latencyMs.p99, 2),
        fmt(p.latencyMs.max, 1),
        String(p.errors),
        fmtInt(p.cpu.benchUsPerTxn),
        fmtInt(p.cpu.serverUsPerTxn),
        fmtInt(p.wal.bytesPerTxn),
        fmtInt(p.cpu.benchPercent),
        fmtInt(p.cpu.serverPercent),
        fmtInt(p.cpu.machinePercent),
        fmtInt(p.cpu.otherPercent),
      ]),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
    ),
  )
  out.push(
    '(% = of one CPU; machine % = all processes, other % = machine - bench - server: other workloads; CPU/tx = CPU ÷ commits)',
  )
  out.push('')
  out.push(
    'Sealer during the phases it ran in (sealing delay = sealed_at - created_at of the window’s events)',
  )
  out.push(
    table(
      [
        'phase',
        'sealed/s',
        'checkpoints',
        'mean batch',
        'backlog max / end',
        'drain s',
        'delay p50 / p99 / max ms',
        'kept up',
      ],
      sealedPhases.map((p) => {
        const s = p.sealing as SealingResult
        return [
          label(p),
          fmtInt(s.sealedPerSecond),
          fmtInt(s.checkpointsInWindow),
          fmtInt(s.meanBatch),
          `${fmtInt(s.backlogMaxDuringWindow)} / ${fmtInt(s.backlogAtEnd)}`,
          fmt(s.drainSeconds, 1),
          `${fmt(s.delayMs.p50, 0)} / ${fmt(s.delayMs.p99, 0)} / ${fmt(s.delayMs.max, 0)}`,
          s.keptUp ? 'yes' : s.drained ? 'NO' : 'NO (not drained in 300 s)',
        ]
      }),
      [1, 2, 3, 4, 5],
    ),
  )
  out.push('')
  out.push(
    'Outbox when the writers stopped (pg_stat_user_tables), and the sealer’s SELECT on it as sealer.ts runs it: select id::text, event from audit_outbox order by audit_outbox.id limit 1000',
  )
  const withOutbox = phases.filter((p) => p.outbox)
  out.push(
    table(
      ['phase', 'live rows', 'dead rows', 'vacuums in phase', 'SELECT ms', 'buffers', 'plan'],
      withOutbox.map((p) => {
        const o = p.outbox as OutboxState
        return [
          label(p),
          fmtInt(o.live),
          fmtInt(o.dead),
          String(o.autovacuumsInPhase),
          fmt(o.sealerSelectMs, 1),
          fmtInt(o.sealerSelectBuffers),
          o.sealerSelectPlan,
        ]
      }),
      [1, 2, 3, 4, 5],
    ),
  )
  const caught = phases.filter((p) => p.catchUp)
  if (caught.length) {
    out.push('')
    out.push(
      'Catch-up: a new service’s AuditSealer (batch 1000) on the backlog the sealer-stopped phase left',
    )
    out.push(
      table(
        [
          'phase',
          'backlog',
          'seconds',
          'sealed/s',
          'checkpoints',
          'bench CPU µs/entry',
          'server CPU µs/entry',
        ],
        caught.map((p) => {
          const c = p.catchUp as CatchUp
          return [
            label(p),
            fmtInt(c.backlog),
            `${fmt(c.seconds, 1)}${c.drained ? '' : ' (not drained)'}`,
            fmtInt(c.entriesPerSecond),
            fmtInt(c.checkpoints),
            fmt(c.benchUsPerEntry, 1),
            fmt(c.serverUsPerEntry, 1),
          ]
        }),
        [1, 2, 3, 4, 5, 6],
      ),
    )
  }
  out.push('')
  for (const p of phases) {
    out.push(`Where the server backends were, ${label(p)} (pg_stat_activity every 50 ms)`)
    out.push(
      p.waits
        .filter((w) => w.share >= 0.005)
        .map((w) => `  ${fmt(100 * w.share, 1).padStart(5)} %  ${w.what}`)
        .join('\n'),
    )
    out.push(
      `  WAL: ${fmt(p.wal.recordsPerTxn, 1)} records, ${fmt(p.wal.fpiPerTxn, 2)} full-page images and ${fmtInt(p.wal.bytesPerTxn)} bytes per commit; ${fmtInt(p.wal.syncs)} WAL syncs (${fmtInt(p.wal.syncMsTotal)} ms)`,
    )
    out.push('  Top statements by server time (pg_stat_statements, window):')
    out.push(
      table(
        ['calls', 'total ms', 'mean µs', 'share %', 'statement'],
        p.statements.map((s) => [
          fmtInt(s.calls),
          fmtInt(s.totalMs),
          fmtInt(s.meanMs * 1000),
          fmt(s.sharePercent, 1),
          s.query,
        ]),
        [0, 1, 2, 3],
      )
        .split('\n')
        .map((l) => `  ${l}`)
        .join('\n'),
    )
    out.push('')
  }
  if (trailCheck)
    out.push(
      `verifyTrail over the writers' trail: ${trailCheck.valid ? 'valid' : `INVALID ${trailCheck.problem}`}, ${fmtInt(trailCheck.entries)} entries, ${fmtInt(trailCheck.checkpoints)} checkpoints, ${fmt(trailCheck.seconds, 1)} s (${fmtInt(trailCheck.entries / trailCheck.seconds)} entries/s)`,
    )
  out.push('')
  out.push(
    `In-process costs per event (no database; event document ${fmtInt(costs.documentBytes)} bytes of JSON): recordAuditEvent ${fmt(costs.recordAuditEventUs, 1)} µs; sealer per entry (parse, hash, Merkle leaf) ${fmt(costs.sealPerEntryUs, 1)} µs; verifyTrail per entry (dates, hash, Merkle leaf) ${fmt(costs.verifyPerEntryUs, 1)} µs; contentHash alone ${fmt(costs.contentHashUs, 1)} µs`,
  )
  flush()

  const lastDurability = options.durability.at(-1) as Durability
  const verify = options.verifyEntries > 0 ? await verifyPart(pg, masterKey, options, lastDurability) : null
  const eventsGoal = sealedPhases.map((p) => ({
    durability: p.durability,
    kind: p.kind,
    measured: Math.round(p.perSecond),
    sealerKeptUp: p.sealing?.keptUp ?? false,
    met: p.perSecond >= goal.eventsPerSecond && (p.sealing?.keptUp ?? false),
  }))
  const delayGoal = sealedPhases.map((p) => ({
    durability: p.durability,
    kind: p.kind,
    p99Ms: round(p.sealing?.delayMs.p99, 0),
    met: (p.sealing?.delayMs.p99 ?? Number.NaN) < goal.sealingDelayP99Ms,
  }))
  const verifyMet = verify
    ? verify.verify.valid && verify.secondsPerMillion < goal.verifySecondsPerMillion
    : null
  if (verify) {
    out.push('')
    out.push(
      `Verification trail: ${fmtInt(verify.entries)} entries (cluster: ${verify.durability === 'on' ? 'durable' : 'harness'} settings), audit_logs ${fmtInt(verify.tableMiB)} MiB with indexes`,
    )
    out.push(
      table(
        ['step', 'seconds', 'entries/s', 'note'],
        [
          [
            'outbox rows inserted with SQL',
            fmt(verify.outboxInsertSeconds, 1),
            fmtInt(verify.entries / verify.outboxInsertSeconds),
            'setup',
          ],
          [
            `sealBatch × ${fmtInt(verify.sealing.checkpoints)} (batch ${fmtInt(verify.sealing.batch)})`,
            fmt(verify.sealing.seconds, 1),
            fmtInt(verify.sealing.entriesPerSecond),
            `first tenth ${fmtInt(verify.sealing.firstTenthPerSecond)}/s, last tenth ${fmtInt(verify.sealing.lastTenthPerSecond)}/s`,
          ],
          ['checkpoint + vacuum analyze audit_logs', fmt(verify.vacuumSeconds, 1), '', 'setup'],
          [
            'verifyTrail (everything)',
            fmt(verify.verify.seconds, 1),
            fmtInt(verify.verify.entriesPerSecond),
            `${verify.verify.valid ? 'valid' : `INVALID ${verify.problem}`}, ${fmtInt(verify.verify.checkedEntries)} entries, ${fmtInt(verify.verify.checkedCheckpoints)} checkpoints`,
          ],
          [
            'read-only pass (verify.ts’s page query, no checks)',
            fmt(verify.readOnly.seconds, 1),
            fmtInt(verify.readOnly.entriesPerSecond),
            'what the reads alone cost',
          ],
        ],
        [1, 2],
      ),
    )
    const statementRows = (label: string, list: StatementTime[]) =>
      list.map((st) => [label, fmtInt(st.calls), fmt(st.totalMs / 1000, 1), fmt(st.meanMs, 1), st.query])
    out.push('')
    out.push('Server time by statement (pg_stat_statements)')
    out.push(
      table(
        ['during', 'calls', 'total s', 'mean ms', 'statement'],
        [
          ...statementRows('sealing', verify.sealing.statements),
          ...statementRows('verifyTrail', verify.verify.statements),
        ],
        [1, 2, 3],
      ),
    )
  }
  const problems = [...logProblems.entries()]
  if (problems.length) {
    out.push('')
    out.push('Service warnings and errors')
    for (const [msg, count] of problems) out.push(`  ${count} × ${msg}`)
  }
  out.push('')
  out.push('Goals')
  out.push(
    table(
      ['goal', 'measured', 'verdict'],
      [
        ...eventsGoal.map((g, i) => [
          `≥ ${fmtInt(goal.eventsPerSecond)} events/s sustained, sealer keeping up (${label(sealedPhases[i] as PhaseResult)})`,
          `${fmtInt(g.measured)} events/s; sealer ${g.sealerKeptUp ? 'kept up' : 'fell behind'}`,
          g.met ? 'met' : 'MISSED',
        ]),
        ...delayGoal.map((g, i) => [
          `p99 sealing delay < ${fmtInt(goal.sealingDelayP99Ms)} ms (${label(sealedPhases[i] as PhaseResult)})`,
          `${fmtInt(g.p99Ms)} ms`,
          g.met ? 'met' : 'MISSED',
        ]),
        ...(verify
          ? [
              [
                'verify 1,000,000 entries in < 60 s',
                `${fmt(verify.secondsPerMillion, 1)} s per million (${fmtInt(verify.verify.entriesPerSecond)} entries/s${verify.entries === 1_000_000 ? '' : `, scaled from ${fmtInt(verify.entries)}`})`,
                verifyMet ? 'met' : 'MISSED',
              ],
            ]
          : []),
      ],
    ),
  )
  const summary = {
    bench: 'audit',
    date,
    revision: rev,
    modified,
    machine: m,
    options,
    postgres: { version: pg.version, settings: settingsByMode },
    phases: phases.map((p) => ({
      durability: p.durability,
      kind: p.kind,
      quietBefore: {
        waitedSeconds: round(p.quietBefore.waitedSeconds),
        busyPercent: round(p.quietBefore.busyPercent),
      },
      windowSeconds: round(p.windowSeconds, 2),
      commits: p.commits,
      perSecond: round(p.perSecond, 0),
      errors: p.errors,
      latencyMs: {
        p50: round(p.latencyMs.p50, 3),
        p99: round(p.latencyMs.p99, 3),
        max: round(p.latencyMs.max, 1),
      },
      cpu: Object.fromEntries(Object.entries(p.cpu).map(([k, v]) => [k, round(v, 1)])),
      wal: Object.fromEntries(Object.entries(p.wal).map(([k, v]) => [k, round(v, 2)])),
      waits: p.waits.slice(0, 6).map((w) => ({ what: w.what, share: round(w.share, 3) })),
      statements: p.statements.slice(0, 5).map((s) => ({
        query: s.query.slice(0, 60),
        calls: s.calls,
        meanUs: round(s.meanMs * 1000, 1),
        sharePercent: round(s.sharePercent, 1),
      })),
      sealing: p.sealing
        ? {
            ...p.sealing,
            sealedPerSecond: round(p.sealing.sealedPerSecond, 0),
            meanBatch: round(p.sealing.meanBatch, 0),
            drainSeconds: round(p.sealing.drainSeconds, 2),
            delayMs: {
              p50: round(p.sealing.delayMs.p50, 1),
              p99: round(p.sealing.delayMs.p99, 1),
              max: round(p.sealing.delayMs.max, 1),
            },
          }
        : null,
      outbox: p.outbox ? { ...p.outbox, sealerSelectMs: round(p.outbox.sealerSelectMs, 2) } : null,
      catchUp: p.catchUp
        ? {
            ...p.catchUp,
            seconds: round(p.catchUp.seconds, 2),
            entriesPerSecond: round(p.catchUp.entriesPerSecond, 0),
            benchUsPerEntry: round(p.catchUp.benchUsPerEntry, 1),
            serverUsPerEntry: round(p.catchUp.serverUsPerEntry, 1),
          }
        : null,
    })),
    writersTrail: trailCheck ? { ...trailCheck, seconds: round(trailCheck.seconds, 2) } : null,
    verify: verify
      ? {
          entries: verify.entries,
          durability: verify.durability,
          outboxInsertSeconds: round(verify.outboxInsertSeconds, 2),
          sealing: {
            ...verify.sealing,
            seconds: round(verify.sealing.seconds, 2),
            entriesPerSecond: round(verify.sealing.entriesPerSecond, 0),
            firstTenthPerSecond: round(verify.sealing.firstTenthPerSecond, 0),
            lastTenthPerSecond: round(verify.sealing.lastTenthPerSecond, 0),
          },
          tableMiB: round(verify.tableMiB, 0),
          verify: {
            ...verify.verify,
            seconds: round(verify.verify.seconds, 2),
            entriesPerSecond: round(verify.verify.entriesPerSecond, 0),
          },
          problem: verify.problem,
          readOnly: {
            seconds: round(verify.readOnly.seconds, 2),
            entriesPerSecond: round(verify.readOnly.entriesPerSecond, 0),
          },
          sealingStatements: verify.sealing.statements.map((st) => ({
            ...st,
            totalMs: round(st.totalMs, 0),
            meanMs: round(st.meanMs, 2),
          })),
          verifyStatements: verify.verify.statements.map((st) => ({
            ...st,
            totalMs: round(st.totalMs, 0),
            meanMs: round(st.meanMs, 2),
          })),
        }
      : null,
    inProcessUs: {
      documentBytes: costs.documentBytes,
      recordAuditEvent: round(costs.recordAuditEventUs, 2),
      sealPerEntry: round(costs.sealPerEntryUs, 2),
      contentHash: round(costs.contentHashUs, 2),
      verifyPerEntry: round(costs.verifyPerEntryUs, 2),
    },
    logProblems: problems.map(([msg, count]) => ({ msg, count })),
    goals: {
      eventsPerSecond: eventsGoal,
      sealingDelayP99Under1s: delayGoal,
      verifyMillionUnder60s: verify
        ? { secondsPerMillion: round(verify.secondsPerMillion, 1), met: verifyMet }
        : null,
    },
  }
  out.push('')
  out.push(`JSON ${JSON.stringify(summary)}`)
  process.stdout.write(`${out.join('\n')}\n`)
}

let options: Options
try {
  options = parseOptions(process.argv.slice(2))
} catch (error) {
  console.error(`bench/audit.ts: ${(error as Error).message}`)
  process.exit(2)
}
const modes = options.durability.length
// Four phases and a catch-up per durability setting, then the verification trail: room to spare.
const watchdogMs =
  (300 + modes * (4 * (options.warmup + options.seconds + 60) + 600) + options.verifyEntries / 1000) * 1000
await runBench('bench/audit.ts', () => main(options), cleanup, watchdogMs)
