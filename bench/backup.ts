// Backup and restore of a monitored PostgreSQL, the service against pgBackRest 2.45 (Debian
// package, installed with apt-get when missing) on the same pgbench database in the same run
// (docs/PERFORMANCE.md, "Backup and restore"). Run as root from the repository root:
//   npm run bench:backup -- [--scales 20,80] [--repeat 2] [--extra gzip,lz4] [--markers 30]
//     [--rpo-rate 100] [--wal-interval 1s] [--skip-rpo] [--copy-method auto|stream|local]
//     [--binary dist/pganalytics]
// (--copy-method: PGA_BACKUP_COPY_METHOD of the service; auto reads the data directory directly,
// as the service here runs as root on the database host: src/backup/local-copy.ts.)
// About 6 minutes with the defaults on 2 vCPUs, more when shared (pgbench scale 1 ≈ 15 MB);
// --scales 20,80,200 took 18 on a busy machine.
//
// For each scale: a throwaway PostgreSQL 15 (test/harness/postgres.ts; wal_level=replica,
// full_page_writes=on, synchronous_commit=on, archive_mode=on with an archive_command that pushes
// to the pgBackRest stanza once it exists) loaded with `pgbench -i -s <scale>`; a pgBackRest
// stanza with its repository in a temp dir (start-fast=y, like pg_basebackup -c fast); and a fresh
// service process (`bun src/main.ts serve`, its store on a second throwaway cluster, the in-memory
// state store, a directory repository) with the cluster added as an instance. Then:
//   1. full backup, zstd 3 on both sides, --repeat rounds in alternating order: ours through the
//      API (POST /api/v1/backups/trigger, polled every 100 ms until completed; service defaults:
//      4 MiB chunks, 4 uploads in flight), pgBackRest with process-max 1 and 2: wall time, MB/s of
//      database (sum of pg_database_size ÷ wall), bytes added to the repository (pgBackRest: its
//      backup, and the WAL archived meanwhile apart), CPU seconds of the tool (ours: the service
//      process and its pg_basebackup; pgBackRest: /usr/bin/time), peak RSS;
//   2. full restore into a new directory, --repeat rounds: ours through the API (mode directory,
//      target latest) and pgBackRest restore (process-max 1 and 2), each then started with plain
//      pg_ctl (test/harness/restored-server.ts): written time and RTO (until the server accepts
//      writes); pgbench_accounts' row count checked;
//   3. incremental after 1 % of pgbench_accounts changed, twice: a contiguous 1 % (aid ≤ n/100),
//      then 1 % spread through the table (aid % 100 = 50, as random OLTP updates do): ours
//      (incremental) and pgBackRest (incr, file-level in 2.45), wall time and bytes added;
//   4. on the largest scale, with --extra: a full backup with each other compression both support
//      (gzip 6; lz4: pgBackRest level 1, ours lz4js, which has no level), ours and pgBackRest
//      process-max 2.
// Then on the largest scale, unless --skip-rpo: WAL streaming is switched on for the instance
// (PATCH walStreaming, PGA_BACKUP_WAL_INTERVAL = --wal-interval), pgbench runs at --rpo-rate tps,
// and --markers times a marker row is committed, pg_current_wal_lsn() read, and
// GET /api/v1/instances/{id}/recovery polled every 50 ms until its storedLsn reaches that LSN.
// Memory: the service's VmHWM (reset before each step through /proc/<pid>/clear_refs) and its RSS
// before the step, at each scale. The tables keep each tool's fastest run and list all runs.
// Prints markdown tables and writes bench/results/backup-latest.json; asserts nothing. Everything
// it starts is stopped by PID or data directory, also on error, Ctrl-C or the watchdog; its temp
// dirs are removed.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import {
  appendFileSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { cpus, loadavg, totalmem } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import postgres from 'postgres'
import { createTestDatabase, startPostgres, type TestPostgres } from '../test/harness/postgres.ts'
import { freePort, tempDir } from '../test/harness/processes.ts'
import { type RestoredServer, startRestoredServer } from '../test/harness/restored-server.ts'
import { cpuSeconds, ensureDebianCommand, procStatus, quantile, runBench, sleep } from './support.ts'

const root = resolve(import.meta.dir, '..')
const { values: args } = parseArgs({
  options: {
    scales: { type: 'string', default: '20,80' },
    extra: { type: 'string', default: 'gzip,lz4' },
    markers: { type: 'string', default: '30' },
    'rpo-rate': { type: 'string', default: '100' },
    'wal-interval': { type: 'string', default: '1s' },
    repeat: { type: 'string', default: '2' },
    'skip-rpo': { type: 'boolean', default: false },
    'copy-method': { type: 'string', default: 'auto' },
    binary: { type: 'string' },
  },
})
const scales = (args.scales ?? '').split(',').map(Number)
if (scales.length === 0 || scales.some((s) => !Number.isInteger(s) || s < 1 || s > 2000))
  throw new Error('--scales takes pgbench scales (1-2000) separated by commas')
const extras = (args.extra ?? '').split(',').filter(Boolean)
if (extras.some((c) => c !== 'gzip' && c !== 'lz4')) throw new Error('--extra takes gzip and/or lz4')
const markers = Number(args.markers)
const rpoRate = Number(args['rpo-rate'])
const repeat = Math.max(1, Number(args.repeat) || 1)
const copyMethod = args['copy-method'] ?? 'auto'
if (!['auto', 'stream', 'local'].includes(copyMethod))
  throw new Error('--copy-method takes auto, stream or local')
// --binary: the service as shipped (dist/pganalytics) instead of `bun src/main.ts`.
const serviceCommand = args.binary
  ? [resolve(args.binary), 'serve']
  : [join(root, 'node_modules', '.bin', 'bun'), 'src/main.ts', 'serve']
const MB = 1e6

// ---------------------------------------------------------------------------------------------
// What this run started, stopped by PID or data directory in cleanup().

const children = new Set<ChildProcess>()
const servers = new Set<TestPostgres>()
const restoredServers = new Set<RestoredServer>()
const scratch: string[] = []

/** Stops a cluster the harness started, and removes its TLS directory too (the harness keeps it). */
async function stopPostgres(pg: TestPostgres) {
  await pg.stop()
  servers.delete(pg)
  rmSync(dirname(pg.caFile), { recursive: true, force: true })
}

type Done = { code: number | null; stdout: string; stderr: string }

/** Starts a command in its own process group; `done` resolves when it exits. */
function start(argv: string[], env?: Record<string, string>): { child: ChildProcess; done: Promise<Done> } {
  const [command, ...rest] = argv as [string, ...string[]]
  const child = spawn(command, rest, {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    ...(env ? { env } : {}),
  })
  children.add(child)
  let out = ''
  let err = ''
  child.stdout?.on('data', (d: Buffer) => {
    if (out.length < 1 << 20) out += d.toString()
  })
  child.stderr?.on('data', (d: Buffer) => {
    if (err.length < 1 << 20) err += d.toString()
  })
  const done = new Promise<Done>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code) => {
      children.delete(child)
      resolve({ code, stdout: out, stderr: err })
    })
  })
  return { child, done }
}

async function exec(argv: string[]): Promise<Done> {
  const result = await start(argv).done
  if (result.code !== 0)
    throw new Error(
      `${argv.join(' ')} exited with ${result.code}: ${(result.stderr || result.stdout).slice(-2000)}`,
    )
  return result
}

const asPostgres = (argv: string[]) => ['runuser', '-u', 'postgres', '--', ...argv]

function stopGroup(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM') {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return
  try {
    process.kill(-child.pid, signal)
  } catch {
    child.kill(signal)
  }
}

let cleaningUp: Promise<void> | undefined
function cleanup(): Promise<void> {
  cleaningUp ??= (async () => {
    for (const child of children) stopGroup(child)
    await Promise.allSettled([...restoredServers].map((s) => s.stop()))
    await Promise.allSettled([...servers].map(stopPostgres))
    if (children.size > 0) await sleep(2000)
    for (const child of children) stopGroup(child, 'SIGKILL')
    for (const dir of scratch) rmSync(dir, { recursive: true, force: true })
  })()
  return cleaningUp
}

// ---------------------------------------------------------------------------------------------
// Readings: sizes, CPU and memory of a process (from /proc), the machine's load.

/** Apparent bytes of everything under a directory. */
function du(path: string): number {
  const stat = lstatSync(path, { throwIfNoEntry: false })
  if (!stat) return 0
  if (!stat.isDirectory()) return stat.size
  return readdirSync(path).reduce((sum, name) => sum + du(join(path, name)), 0)
}

/** CPU seconds of a process and of the children it has reaped (pg_basebackup, pg_receivewal). */
const cpuSecondsReaped = (pid: number) => cpuSeconds(pid, { reaped: true })
const statusMiB = (pid: number, field: 'VmRSS' | 'VmHWM') => procStatus(pid, field) ?? Number.NaN

/** Busy share of the whole machine between two readings of /proc/stat, in % of all its CPUs. */
function machineTicks(): { busy: number; total: number } {
  const [user, nice, system, idle, iowait, irq, softirq, steal] = (
    readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? ''
  )
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number)
  const busy = (user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)
  return { busy, total: busy + (idle ?? 0) + (iowait ?? 0) }
}

type Step = {
  seconds: number
  /** The tool's CPU seconds (ours: the service process and its children; pgBackRest: /usr/bin/time). */
  cpuSeconds: number
  /** Ours: the service's peak RSS during the step and its RSS before it. pgBackRest: max RSS of its
   * largest process (/usr/bin/time). */
  peakRssMiB: number
  startRssMiB: number | null
  /** How busy the machine was meanwhile (everything: the tool, PostgreSQL, other work), % of all CPUs. */
  machineBusyPercent: number
}

/** Times `fn`; with `servicePid`, reads the service's CPU and memory around it. */
async function timed<T>(servicePid: number | null, fn: () => Promise<T>): Promise<{ value: T; step: Step }> {
  let startRss: number | null = null
  let cpu0 = 0
  if (servicePid !== null) {
    writeFileSync(`/proc/${servicePid}/clear_refs`, '5') // resets VmHWM to the current RSS
    startRss = statusMiB(servicePid, 'VmRSS')
    cpu0 = cpuSecondsReaped(servicePid)
  }
  const m0 = machineTicks()
  const t0 = performance.now()
  const value = await fn()
  const seconds = (performance.now() - t0) / 1000
  const m1 = machineTicks()
  return {
    value,
    step: {
      seconds,
      cpuSeconds: servicePid !== null ? cpuSecondsReaped(servicePid) - cpu0 : Number.NaN,
      peakRssMiB: servicePid !== null ? statusMiB(servicePid, 'VmHWM') : Number.NaN,
      startRssMiB: startRss,
      machineBusyPercent: (100 * (m1.busy - m0.busy)) / Math.max(1, m1.total - m0.total),
    },
  }
}

// ---------------------------------------------------------------------------------------------
// The service: `bun src/main.ts serve`, driven through its HTTP API with the admin token.

type Service = { pid: number; base: string; child: ChildProcess; log: string }
const adminToken = randomBytes(24).toString('hex')

async function startService(work: string, storeUrl: string): Promise<Service> {
  const port = await freePort()
  const log = join(work, 'service.log')
  const { child, done } = start(serviceCommand, {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: work,
    LANG: 'C.UTF-8',
    PGA_HOST: '127.0.0.1',
    PGA_PORT: String(port),
    PGA_LOG_LEVEL: 'warn',
    DATABASE_URL: await createTestDatabase(storeUrl, 'pga_bench'),
    PGA_DB_SSL: 'disable',
    PGA_MASTER_KEY: randomBytes(32).toString('base64'),
    PGA_ADMIN_TOKEN: adminToken,
    PGA_SELF_MONITOR: 'false',
    PGA_DATA_DIR: join(work, 'service-data'),
    PGA_BACKUP_REPOSITORY: join(work, 'ours-repo'),
    PGA_BACKUP_WAL_INTERVAL: args['wal-interval'] ?? '1s',
    PGA_BACKUP_COPY_METHOD: copyMethod,
  })
  child.stdout?.on('data', (d: Buffer) => appendFileSync(log, d))
  child.stderr?.on('data', (d: Buffer) => appendFileSync(log, d))
  const base = `http://127.0.0.1:${port}`
  const deadline = performance.now() + 60_000
  let exited = false
  void done.then(() => (exited = true))
  while (performance.now() < deadline && !exited) {
    const ok = await fetch(`${base}/readyz`).then(
      (r) => r.status === 200,
      () => false,
    )
    if (ok) return { pid: child.pid as number, base, child, log }
    await sleep(100)
  }
  throw new Error(`the service did not get ready:\n${readFileSync(log, 'utf8').slice(-3000)}`)
}

async function stopService(service: Service) {
  stopGroup(service.child)
  const deadline = performance.now() + 20_000
  while (children.has(service.child) && performance.now() < deadline) await sleep(100)
  stopGroup(service.child, 'SIGKILL')
}

type Json = Record<string, unknown>

async function api(service: Service, method: string, path: string, body?: unknown): Promise<Json> {
  const response = await fetch(`${service.base}${path}`, {
    method,
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const text = await response.text()
  if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${text.slice(0, 500)}`)
  return text ? (JSON.parse(text) as Json) : {}
}

/** Polls a backup or restore operation every 100 ms until it is no longer pending or running. */
async function settled(service: Service, path: string): Promise<Json> {
  for (;;) {
    const body = await api(service, 'GET', path)
    if (body.status !== 'pending' && body.status !== 'running') {
      if (body.status !== 'completed') throw new Error(`${path} ${body.status}: ${body.error}`)
      return body
    }
    await sleep(100)
  }
}

// ---------------------------------------------------------------------------------------------
// pgBackRest: a stanza on the bench's cluster, its repository and logs in the scale's work dir.

function ensurePgbackrest(): string {
  ensureDebianCommand('pgbackrest', 'pgbackrest')
  return execFileSync('pgbackrest', ['version']).toString().trim()
}

/** A directory the postgres user owns (pgBackRest and PostgreSQL run as postgres). */
function postgresDir(path: string): string {
  mkdirSync(path, { recursive: true, mode: 0o700 })
  execFileSync('chown', ['postgres:postgres', path])
  return path
}

function writePgbackrestConfig(work: string, pg: TestPostgres): string {
  const config = join(work, 'pgbackrest.conf')
  writeFileSync(
    config,
    [
      '[global]',
      `repo1-path=${postgresDir(join(work, 'pgbackrest-repo'))}`,
      `log-path=${postgresDir(join(work, 'pgbackrest-log'))}`,
      `lock-path=${postgresDir(join(work, 'pgbackrest-lock'))}`,
      `spool-path=${postgresDir(join(work, 'pgbackrest-spool'))}`,
      'log-level-console=warn',
      'log-level-file=off',
      'start-fast=y',
      'repo1-retention-full=100',
      '',
      '[bench]',
      `pg1-path=${pg.dataDir}`,
      `pg1-port=${pg.port}`,
      `pg1-socket-path=${resolve(pg.dataDir, '..')}`,
      '',
    ].join('\n'),
  )
  execFileSync('chown', ['postgres:postgres', config])
  return config
}

/** One pgBackRest command as postgres under /usr/bin/time -v: its CPU and largest process's RSS. */
async function pgbackrest(ctx: Scale, argv: string[]): Promise<Step> {
  const command = [
    '/usr/bin/time',
    '-v',
    ...asPostgres(['pgbackrest', `--config=${ctx.pgbrConfig}`, '--stanza=bench', ...argv]),
  ]
  const { value, step } = await timed(null, () => exec(command))
  const number = (re: RegExp) => Number(re.exec(value.stderr)?.[1] ?? Number.NaN)
  return {
    ...step,
    cpuSeconds: number(/User time \(seconds\): ([\d.]+)/) + number(/System time \(seconds\): ([\d.]+)/),
    peakRssMiB: number(/Maximum resident set size \(kbytes\): (\d+)/) / 1024,
  }
}

// ---------------------------------------------------------------------------------------------
// One scale.

type Scale = {
  scale: number
  pg: TestPostgres
  work: string
  pgbrConfig: string
  service: Service
  instanceId: string
  dbBytes: number
  accounts: number
}

/** repoBytes: what the backup added to the repository; walBytes: pgBackRest's archived WAL meanwhile
 * (ours streams no WAL during these steps; -X fetch puts the WAL a backup needs inside it). */
type BackupRow = {
  kind: string
  tool: string
  step: Step
  repoBytes: number
  walBytes?: number
  note?: string
}
type RestoreRow = { tool: string; writtenSeconds: number; step: Step; rowsOk: boolean }
type ScaleResult = {
  scale: number
  dbBytes: number
  loadSeconds: number
  backups: BackupRow[]
  restores: RestoreRow[]
}

async function prepareScale(scale: number, store: TestPostgres): Promise<Scale & { loadSeconds: number }> {
  const work = tempDir('bench-backup')
  scratch.push(work)
  execFileSync('chown', ['postgres:postgres', work])
  // WAL is archived once the stanza exists (the gate file); before, the load's WAL is dropped.
  const gate = join(work, 'archive-on')
  const archiveScript = join(work, 'pgbackrest-archive.sh')
  writeFileSync(
    archiveScript,
    `#!/bin/sh\n[ -e ${gate} ] || exit 0\nexec pgbackrest --config=${join(work, 'pgbackrest.conf')} --stanza=bench archive-push "$1"\n`,
    { mode: 0o755 },
  )
  const pg = await startPostgres([
    'wal_level=replica',
    'full_page_writes=on',
    'synchronous_commit=on',
    'archive_mode=on',
    `archive_command='${archiveScript} %p'`,
  ])
  servers.add(pg)
  const t0 = performance.now()
  await exec([join(pg.binDir, 'pgbench'), '-i', '-s', String(scale), '-q', pg.url])
  const loadSeconds = (performance.now() - t0) / 1000
  const pgbrConfig = writePgbackrestConfig(work, pg)
  await exec(asPostgres(['pgbackrest', `--config=${pgbrConfig}`, '--stanza=bench', 'stanza-create']))
  writeFileSync(gate, '')
  const sql = postgres(pg.url, { max: 1, onnotice: () => {} })
  await sql`checkpoint`
  const [size] = await sql<
    { bytes: string }[]
  >`select sum(pg_database_size(oid))::text as bytes from pg_database`
  await sql.end()
  const service = await startService(work, store.url)
  const instance = await api(service, 'POST', '/api/v1/instances?test=false', {
    name: `bench-${scale}`,
    host: '127.0.0.1',
    port: pg.port,
    username: 'postgres',
    sslmode: 'disable',
    enabled: false,
    walStreaming: false,
  })
  return {
    scale,
    pg,
    work,
    pgbrConfig,
    service,
    instanceId: instance.id as string,
    dbBytes: Number(size?.bytes),
    accounts: scale * 100_000,
    loadSeconds,
  }
}

async function oursBackup(ctx: Scale, kind: string, type: 'full' | 'incremental', compression: string) {
  const repo = join(ctx.work, 'ours-repo')
  const before = du(repo)
  const { value, step } = await timed(ctx.service.pid, async () => {
    const started = await api(ctx.service, 'POST', '/api/v1/backups/trigger', {
      instanceId: ctx.instanceId,
      type,
      compression,
    })
    return settled(ctx.service, `/api/v1/backups/${started.id}`)
  })
  const row: BackupRow = {
    kind,
    tool: `ours (${compression === 'lz4' ? 'lz4js' : `${compression} ${compression === 'gzip' ? 6 : 3}`})`,
    step,
    repoBytes: du(repo) - before,
    note: `${value.newChunkCount} of ${value.chunkCount} chunks stored`,
  }
  return { row, id: value.id as string }
}

const pgbrLevel: Record<string, [string, number]> = { zstd: ['zst', 3], gzip: ['gz', 6], lz4: ['lz4', 1] }

async function pgbrBackup(
  ctx: Scale,
  kind: string,
  type: 'full' | 'incr',
  processMax: number,
  compression: string,
) {
  const repo = join(ctx.work, 'pgbackrest-repo')
  const before = { backup: du(join(repo, 'backup')), wal: du(join(repo, 'archive')) }
  const [type_, level] = pgbrLevel[compression] as [string, number]
  const step = await pgbackrest(ctx, [
    `--type=${type}`,
    `--process-max=${processMax}`,
    `--compress-type=${type_}`,
    `--compress-level=${level}`,
    'backup',
  ])
  const tool = `pgBackRest (${compression} ${level}, process-max ${processMax})`
  return {
    kind,
    tool,
    step,
    repoBytes: du(join(repo, 'backup')) - before.backup,
    walBytes: du(join(repo, 'archive')) - before.wal,
  }
}

async function countAccounts(url: string): Promise<number> {
  const sql = postgres(url, { max: 1, onnotice: () => {} })
  try {
    return (await sql<{ n: number }[]>`select count(*)::int as n from pgbench_accounts`)[0]?.n ?? -1
  } finally {
    await sql.end()
  }
}

/** Writes a restore with `write`, then starts it with pg_ctl until it accepts writes. */
async function timedRestore(
  ctx: Scale,
  tool: string,
  servicePid: number | null,
  write: (directory: string) => Promise<Step | undefined>,
): Promise<RestoreRow> {
  const parent = postgresDir(join(ctx.work, `restore-${randomBytes(4).toString('hex')}`))
  const directory = join(parent, 'data')
  let server: RestoredServer | undefined
  let written = 0
  let toolStep: Step | undefined
  try {
    const { step } = await timed(servicePid, async () => {
      const t0 = performance.now()
      toolStep = await write(directory)
      written = (performance.now() - t0) / 1000
      server = await startRestoredServer(directory)
      restoredServers.add(server)
    })
    const rows = server ? await countAccounts(server.url) : -1
    const merged = toolStep
      ? { ...step, cpuSeconds: toolStep.cpuSeconds, peakRssMiB: toolStep.peakRssMiB }
      : step
    return { tool, writtenSeconds: written, step: merged, rowsOk: rows === ctx.accounts }
  } finally {
    if (server) {
      await server.stop()
      restoredServers.delete(server)
    }
    rmSync(parent, { recursive: true, force: true })
  }
}

function oursRestore(ctx: Scale, backupId: string): Promise<RestoreRow> {
  return timedRestore(ctx, 'ours (API, mode directory, latest)', ctx.service.pid, async (directory) => {
    const op = await api(ctx.service, 'POST', `/api/v1/backups/${backupId}/restore`, {
      mode: 'directory',
      targetDirectory: directory,
    })
    await settled(ctx.service, `/api/v1/restore-operations/${op.id}`)
    return undefined
  })
}

function pgbrRestore(ctx: Scale, processMax: number): Promise<RestoreRow> {
  return timedRestore(ctx, `pgBackRest restore (process-max ${processMax})`, null, async (directory) => {
    postgresDir(directory)
    const step = await pgbackrest(ctx, [
      `--pg1-path=${directory}`,
      `--process-max=${processMax}`,
      '--archive-mode=off',
      'restore',
    ])
    // The primary's settings came from its command line (the harness), not its postgresql.conf:
    // recovery insists on max_connections at least the primary's, as an operator's config would
    // give (ours reads it from pg_control).
    appendFileSync(join(directory, 'postgresql.conf'), '\nmax_connections = 200\n')
    return step
  })
}

async function changeOnePercent(ctx: Scale, how: 'contiguous' | 'spread') {
  const sql = postgres(ctx.pg.url, { max: 1, onnotice: () => {} })
  try {
    if (how === 'contiguous')
      await sql`update pgbench_accounts set abalance = abalance + 1 where aid <= ${ctx.accounts / 100}`
    else await sql`update pgbench_accounts set abalance = abalance + 1 where aid % 100 = 50`
    await sql`checkpoint`
  } finally {
    await sql.end()
  }
}

async function runScale(ctx: Scale & { loadSeconds: number }, last: boolean): Promise<ScaleResult> {
  const { scale } = ctx
  const backups: BackupRow[] = []
  const restores: RestoreRow[] = []
  const note = (row: BackupRow) => {
    backups.push(row)
    console.error(
      `[scale ${scale}] ${row.kind}, ${row.tool}: ${row.step.seconds.toFixed(1)} s, ${(row.repoBytes / MB).toFixed(1)} MB added`,
    )
  }
  // --repeat rounds of full backups, then of restores, the order reversed every other round.
  const inOrder = <T>(round: number, steps: T[]) => (round % 2 === 0 ? steps : [...steps].reverse())
  let fullId = ''
  for (let round = 0; round < repeat; round++)
    for (const step of inOrder(round, [
      async () => {
        const ours = await oursBackup(ctx, 'full', 'full', 'zstd')
        fullId ||= ours.id
        note(ours.row)
      },
      async () => note(await pgbrBackup(ctx, 'full', 'full', 1, 'zstd')),
      async () => note(await pgbrBackup(ctx, 'full', 'full', 2, 'zstd')),
    ]))
      await step()
  for (let round = 0; round < repeat; round++)
    for (const run of inOrder(round, [
      () => oursRestore(ctx, fullId),
      () => pgbrRestore(ctx, 1),
      () => pgbrRestore(ctx, 2),
    ])) {
      const row = await run()
      restores.push(row)
      console.error(
        `[scale ${scale}] restore, ${row.tool}: written ${row.writtenSeconds.toFixed(1)} s, RTO ${row.step.seconds.toFixed(1)} s, rows ${row.rowsOk ? 'ok' : 'WRONG'}`,
      )
    }
  for (const how of ['contiguous', 'spread'] as const) {
    await changeOnePercent(ctx, how)
    const kind = `incremental, 1 % ${how}`
    note((await oursBackup(ctx, kind, 'incremental', 'zstd')).row)
    note(await pgbrBackup(ctx, kind, 'incr', 1, 'zstd'))
  }
  if (last)
    for (const compression of extras) {
      note((await oursBackup(ctx, `full, ${compression}`, 'full', compression)).row)
      note(await pgbrBackup(ctx, `full, ${compression}`, 'full', 2, compression))
    }
  return { scale, dbBytes: ctx.dbBytes, loadSeconds: ctx.loadSeconds, backups, restores }
}

async function stopScale(ctx: Scale) {
  await stopService(ctx.service)
  await stopPostgres(ctx.pg)
  rmSync(ctx.work, { recursive: true, force: true })
}

// ---------------------------------------------------------------------------------------------
// RPO with streaming: commit a marker, time until the recovery status's storedLsn passes it.

type RpoResult = {
  markers: number
  delaysMs: number[]
  p50Ms: number
  p95Ms: number
  maxMs: number
  pgbenchTps: number
}

const lsn = (text: string) => {
  const [hi, lo] = text.split('/')
  return (BigInt(`0x${hi}`) << 32n) + BigInt(`0x${lo}`)
}
/** Nearest-rank quantile of sorted values. */

async function measureRpo(ctx: Scale): Promise<RpoResult> {
  const recovery = `/api/v1/instances/${ctx.instanceId}/recovery`
  await api(ctx.service, 'PATCH', `/api/v1/instances/${ctx.instanceId}`, { walStreaming: true })
  // The service starts streams on its next check (every 10 s): wait for the first stored LSN.
  const deadline = performance.now() + 60_000
  while (!(await api(ctx.service, 'GET', recovery)).storedLsn) {
    if (performance.now() > deadline)
      throw new Error(
        `WAL streaming did not start: ${JSON.stringify(await api(ctx.service, 'GET', recovery))}`,
      )
    await sleep(200)
  }
  const sql = postgres(ctx.pg.url, { max: 1, onnotice: () => {} })
  await sql`create table bench_rpo_marker (id serial primary key, at timestamptz default clock_timestamp())`
  const seconds = markers * 3 + 30
  const pgbench = start([
    join(ctx.pg.binDir, 'pgbench'),
    '-n',
    '-c',
    '2',
    '-j',
    '1',
    '-R',
    String(rpoRate),
    '-T',
    String(seconds),
    ctx.pg.url,
  ])
  const history = async () =>
    Number((await sql<{ n: string }[]>`select count(*)::text as n from pgbench_history`)[0]?.n)
  try {
    await sleep(2000)
    const h0 = await history()
    const t0 = performance.now()
    const delays: number[] = []
    for (let i = 0; i < markers; i++) {
      await sleep(200 + Math.random() * 800) // out of step with the upload interval
      await sql`insert into bench_rpo_marker default values`
      const committed = performance.now()
      const [row] = await sql<{ lsn: string }[]>`select pg_current_wal_lsn()::text as lsn`
      const want = lsn(row?.lsn as string)
      for (;;) {
        const stored = (await api(ctx.service, 'GET', recovery)).storedLsn as string | null
        if (stored && lsn(stored) >= want) break
        if (performance.now() - committed > 60_000) throw new Error(`marker ${i} not stored within 60 s`)
        await sleep(50)
      }
      delays.push(performance.now() - committed)
    }
    const tps = ((await history()) - h0) / ((performance.now() - t0) / 1000)
    delays.sort((a, b) => a - b)
    return {
      markers: delays.length,
      delaysMs: delays.map(Math.round),
      p50Ms: quantile(delays, 0.5),
      p95Ms: quantile(delays, 0.95),
      maxMs: delays.at(-1) ?? Number.NaN,
      pgbenchTps: tps,
    }
  } finally {
    stopGroup(pgbench.child)
    await pgbench.done.catch(() => {})
    await sql.end()
  }
}

// ---------------------------------------------------------------------------------------------
// Report.

const fixed = (n: number | null | undefined, digits = 1) =>
  n === null || n === undefined || !Number.isFinite(n) ? 'n/a' : n.toFixed(digits)

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n')
}

const rss = (s: Step) =>
  s.startRssMiB === null ? fixed(s.peakRssMiB, 0) : `${fixed(s.peakRssMiB, 0)} (${fixed(s.startRssMiB, 0)})`

/** One row per kind and tool: its fastest run, and the wall times of all its runs. */
function best<T extends { tool: string; kind?: string; step: Step }>(rows: T[]): (T & { runs: number[] })[] {
  const groups = new Map<string, T[]>()
  for (const row of rows)
    groups.set(`${row.kind}|${row.tool}`, [...(groups.get(`${row.kind}|${row.tool}`) ?? []), row])
  return [...groups.values()].map((group) => ({
    ...(group.reduce((a, b) => (b.step.seconds < a.step.seconds ? b : a)) as T),
    runs: group.map((row) => row.step.seconds),
  }))
}

const runs = (seconds: number[]) => (seconds.length > 1 ? seconds.map((x) => fixed(x, 1)).join(', ') : '')
const isP1 = (tool: string) => tool.startsWith('pgBackRest') && tool.includes('process-max 1')

function backupTable(results: ScaleResult[], full: boolean): string {
  const rows = results.flatMap((r) => {
    const rows = best(r.backups.filter((b) => b.kind.startsWith('full') === full))
    return rows.map((b) => {
      const pgbr = rows.filter((x) => x.kind === b.kind && x.tool.startsWith('pgBackRest'))
      const reference = pgbr.find((x) => isP1(x.tool)) ?? pgbr[0]
      return [
        String(r.scale),
        fixed(r.dbBytes / MB, 0),
        b.kind,
        b.tool,
        fixed(b.step.seconds, 1),
        runs(b.runs),
        fixed(r.dbBytes / MB / b.step.seconds, 1),
        reference
          ? `${fixed(reference.step.seconds / b.step.seconds, 2)}× (p${isP1(reference.tool) ? 1 : 2})`
          : '',
        `${fixed(b.repoBytes / MB, 1)}${b.walBytes === undefined ? '' : ` (+${fixed(b.walBytes / MB, 1)} WAL)`}`,
        fixed(b.step.cpuSeconds, 1),
        rss(b.step),
        fixed(b.step.machineBusyPercent, 0),
        b.note ?? '',
      ]
    })
  })
  return table(
    [
      'scale',
      'DB MB',
      'backup',
      'tool',
      'wall s (best)',
      'all runs s',
      'MB/s of DB',
      'speed vs pgBackRest',
      'repo MB added',
      'tool CPU s',
      'peak RSS MiB (before)',
      'machine busy %',
      '',
    ],
    rows,
  )
}

const bestRestores = (r: ScaleResult) => best(r.restores.map((x) => ({ ...x, kind: 'restore' })))

function restoreTable(results: ScaleResult[]): string {
  const rows = results.flatMap((r) =>
    bestRestores(r).map((x) => [
      String(r.scale),
      fixed(r.dbBytes / MB, 0),
      x.tool,
      fixed(x.writtenSeconds, 1),
      fixed(r.dbBytes / MB / x.writtenSeconds, 1),
      fixed(x.step.seconds, 1),
      runs(x.runs),
      fixed(x.step.cpuSeconds, 1),
      rss(x.step),
      fixed(x.step.machineBusyPercent, 0),
      x.rowsOk ? 'yes' : '**no**',
    ]),
  )
  return table(
    [
      'scale',
      'DB MB',
      'tool',
      'written s',
      'MB/s of DB',
      'RTO s (accepts writes, best)',
      'all runs s',
      'tool CPU s',
      'peak RSS MiB (before)',
      'machine busy %',
      'rows ok',
    ],
    rows,
  )
}

type Extrapolation = { tool: string; rto10GbSeconds: number; text: string }

/** 10 GB at the rate the largest scale was written, plus its measured start and recovery time. */
function extrapolate(largest: ScaleResult): Extrapolation[] {
  return bestRestores(largest).map((x) => {
    const rate = largest.dbBytes / x.writtenSeconds
    const startSeconds = x.step.seconds - x.writtenSeconds
    const rto = 10e9 / rate + startSeconds
    return {
      tool: x.tool,
      rto10GbSeconds: rto,
      text: `${x.tool}: ${fixed(largest.dbBytes / MB, 0)} MB written in ${fixed(x.writtenSeconds, 1)} s = ${fixed(rate / MB, 1)} MB/s; 10,000 MB at that rate = ${fixed(10e9 / rate, 0)} s, + ${fixed(startSeconds, 1)} s to start and recover = ${fixed(rto, 0)} s (${fixed(rto / 60, 1)} min)`,
    }
  })
}

/** The service's largest peak RSS in its full backups and in its restores at each scale. */
function memory(results: ScaleResult[]) {
  const peak = (steps: Step[]) => Math.max(...steps.map((s) => s.peakRssMiB))
  const ours = (tool: string) => tool.startsWith('ours')
  return results.map((r) => ({
    scale: r.scale,
    dbMB: r.dbBytes / MB,
    backupMiB: peak(r.backups.filter((b) => b.kind === 'full' && ours(b.tool)).map((b) => b.step)),
    restoreMiB: peak(r.restores.filter((x) => ours(x.tool)).map((x) => x.step)),
    beforeMiB: Math.min(
      ...r.backups.filter((b) => ours(b.tool)).map((b) => b.step.startRssMiB ?? Number.NaN),
    ),
  }))
}

function memoryTable(results: ScaleResult[]): string {
  return table(
    ['scale', 'DB MB', 'service RSS before a step, MiB', 'peak in full backups', 'peak in restores'],
    memory(results).map((m) => [
      String(m.scale),
      fixed(m.dbMB, 0),
      fixed(m.beforeMiB, 0),
      fixed(m.backupMiB, 0),
      fixed(m.restoreMiB, 0),
    ]),
  )
}

function goals(results: ScaleResult[], extrapolated: Extrapolation[], rpo: RpoResult | null): string {
  const largest = results.at(-1) as ScaleResult
  const full = best(largest.backups.filter((b) => b.kind === 'full'))
  const mbps = (b: { step: Step } | undefined) => (b ? largest.dbBytes / MB / b.step.seconds : Number.NaN)
  const ours = mbps(full.find((b) => b.tool.startsWith('ours')))
  const p1 = mbps(full.find((b) => isP1(b.tool)))
  const p2 = mbps(full.find((b) => b.tool.includes('process-max 2')))
  const rto = extrapolated.find((e) => e.tool.startsWith('ours'))?.rto10GbSeconds ?? Number.NaN
  // Flat: the largest size's peak within 1.5× the smallest's (peaks vary run to run with garbage
  // awaiting collection, so the middle sizes are shown but not judged).
  const m = memory(results)
  const peakOf = (x: ReturnType<typeof memory>[number] | undefined) =>
    Math.max(x?.backupMiB ?? 0, x?.restoreMiB ?? 0)
  const growth = peakOf(m.at(-1)) / Math.max(1, peakOf(m[0]))
  const verdict = (ok: boolean) => (ok ? 'met' : '**missed**')
  return table(
    ['goal', 'measured', 'verdict'],
    [
      [
        "full backup throughput ≥ pgBackRest's (largest scale)",
        `${fixed(ours, 1)} MB/s vs ${fixed(p1, 1)} (process-max 1) and ${fixed(p2, 1)} (process-max 2)`,
        `${verdict(ours >= p1)} vs process-max 1, ${verdict(ours >= p2)} vs 2`,
      ],
      ['RTO of 10 GB < 5 min (extrapolated)', `${fixed(rto, 0)} s`, verdict(rto < 300)],
      [
        'RPO with streaming < 5 s',
        rpo
          ? `p50 ${fixed(rpo.p50Ms / 1000, 2)} s, p95 ${fixed(rpo.p95Ms / 1000, 2)} s, max ${fixed(rpo.maxMs / 1000, 2)} s`
          : 'not run',
        rpo ? verdict(rpo.p95Ms < 5000) : 'not run',
      ],
      [
        'memory flat as size grows',
        `${m.map((x) => `${fixed(x.dbMB, 0)} MB: ${fixed(peakOf(x), 0)} MiB`).join('; ')} (largest ÷ smallest ${fixed(growth, 2)}×)`,
        results.length > 1 ? verdict(growth < 1.5) : 'one size only',
      ],
    ],
  )
}

// ---------------------------------------------------------------------------------------------
// Main.

async function main() {
  const pgbackrestVersion = ensurePgbackrest()
  const git = (argv: string[]) => execFileSync('git', argv, { cwd: root }).toString().trim()
  const info = {
    date: new Date().toISOString(),
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Number((totalmem() / 2 ** 30).toFixed(1)),
    loadAverageAtStart: loadavg().map((n) => Number(n.toFixed(2))),
    bun: Bun.version,
    pgbackrest: pgbackrestVersion,
    revision: git(['rev-parse', '--short', 'HEAD']),
    backupSourceChanged: git(['status', '--porcelain', '--', 'src']) !== '',
  }
  console.log(
    `machine: ${info.cpus} CPUs (${info.cpuModel}), ${info.memoryGiB} GiB, bun ${info.bun}, ${info.pgbackrest}; load average ${info.loadAverageAtStart.join(' ')}; PGA_BACKUP_COPY_METHOD=${copyMethod}; revision ${info.revision}${info.backupSourceChanged ? ' (src/ differs from it)' : ''}`,
  )
  const store = await startPostgres()
  servers.add(store)
  const results: ScaleResult[] = []
  let rpo: RpoResult | null = null
  for (const [i, scale] of scales.entries()) {
    const last = i === scales.length - 1
    console.error(`\n[scale ${scale}] starting PostgreSQL, loading pgbench, starting the service`)
    const ctx = await prepareScale(scale, store)
    console.error(
      `[scale ${scale}] ${(ctx.dbBytes / MB).toFixed(0)} MB loaded in ${ctx.loadSeconds.toFixed(0)} s`,
    )
    try {
      results.push(await runScale(ctx, last))
      if (last && !args['skip-rpo']) {
        console.error(`[scale ${scale}] RPO: ${markers} markers, pgbench at ${rpoRate} tps`)
        rpo = await measureRpo(ctx)
      }
    } finally {
      await stopScale(ctx)
    }
  }

  const bestOf = repeat > 1 ? `, best of ${repeat} runs per tool in alternating order` : ''
  console.log(`\n## Full backup (zstd 3 unless said otherwise${bestOf})\n`)
  console.log(backupTable(results, true))
  console.log('\n## Incremental after changing 1 % of pgbench_accounts\n')
  console.log(backupTable(results, false))
  console.log(`\n## Full restore (into a new directory, started with pg_ctl${bestOf})\n`)
  console.log(restoreTable(results))
  const extrapolated = extrapolate(results.at(-1) as ScaleResult)
  console.log('\n## RTO of 10 GB, extrapolated from the largest scale\n')
  for (const e of extrapolated) console.log(`- ${e.text}`)
  console.log('\n## Memory of the service process\n')
  console.log(memoryTable(results))
  if (rpo) {
    console.log(`\n## RPO with streaming (PGA_BACKUP_WAL_INTERVAL=${args['wal-interval']})\n`)
    console.log(
      `${rpo.markers} markers at ${fixed(rpo.pgbenchTps, 0)} pgbench tps: p50 ${fixed(rpo.p50Ms / 1000, 2)} s, p95 ${fixed(rpo.p95Ms / 1000, 2)} s, max ${fixed(rpo.maxMs / 1000, 2)} s\ndelays (ms, sorted): ${rpo.delaysMs.join(', ')}`,
    )
  }
  const dir = join(import.meta.dir, 'results')
  mkdirSync(dir, { recursive: true })
  writeFileSync(
    join(dir, 'backup-latest.json'),
    JSON.stringify({ ...info, options: args, results, extrapolated, rpo }, null, 2),
  )
  console.log('\n## Goals\n')
  console.log(goals(results, extrapolated, rpo))
  console.log('\nJSON: bench/results/backup-latest.json')
}

// The watchdog: 10 minutes plus 5 s per unit of scale (a scale of 80 takes about 5 minutes).
const watchdogMs = 10 * 60_000 + 5_000 * scales.reduce((sum, s) => sum + s, 0)
await runBench('bench/backup.ts', main, cleanup, watchdogMs)
