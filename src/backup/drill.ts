// The restore drill: a restored directory started by a throwaway PostgreSQL of the backup's major
// version, reachable only through a private Unix socket, waited on until recovery reached the target and the server
// opened, then checked (catalog readable, every database connectable, relations and row counts
// of the largest tables recorded), stopped and removed. Its timing is the measured RTO. When the
// service runs as root (some containers), the server runs as `osUser`, as PostgreSQL insists.
import { execFile } from 'node:child_process'
import { chownSync, readdirSync, statSync } from 'node:fs'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import postgres from 'postgres'
import { findPgTool } from './pg-tools.ts'

const run = promisify(execFile)

export type DrillChecks = {
  /** The position recovery reached (where the restored server began writing). */
  reachedLsn: string
  /** What the server log says recovery stopped at, when it stopped at a target. */
  stoppedAt: string | null
  databases: { name: string; tables: number; rows: Record<string, number> }[]
}

function chownTree(path: string, uid: number, gid: number) {
  chownSync(path, uid, gid)
  if (statSync(path, { throwIfNoEntry: false })?.isDirectory())
    for (const entry of readdirSync(path)) chownTree(join(path, entry), uid, gid)
}

export type DrillOptions = {
  directory: string
  pgVersion: number
  binDir?: string | undefined
  osUser: string
  timeoutMs: number
  /** Exact counts for at most this many of the largest tables per database. */
  countTables?: number
}

/** Starts the restored directory, waits for it to open, checks it, stops it. The directory's
 * parent belongs to the drill (a scratch directory): it is removed afterwards whatever happened. */
export async function runDrill(options: DrillOptions): Promise<DrillChecks & { openedAfterMs: number }> {
  const pgCtl = await findPgTool('pg_ctl', options.pgVersion, { exact: true, binDir: options.binDir })
  const asRoot = process.getuid?.() === 0
  const as = async (args: string[]) =>
    asRoot ? run('runuser', ['-u', options.osUser, '--', pgCtl, ...args]) : run(pgCtl, args)
  // Beside the directory, private to the drill: its socket and its own pg_hba.conf. The copy is
  // reachable through that socket only (no TCP), so trusting local connections opens nothing.
  const scratch = dirname(options.directory)
  const socketDir = join(scratch, 'socket')
  const hbaFile = join(scratch, 'drill_hba.conf')
  await mkdir(socketDir, { mode: 0o700 })
  await writeFile(hbaFile, 'local all all trust\n', { mode: 0o600 })
  if (asRoot) {
    const uid = Number((await run('id', ['-u', options.osUser])).stdout.trim())
    const gid = Number((await run('id', ['-g', options.osUser])).stdout.trim())
    chownTree(scratch, uid, gid)
    // PostgreSQL refuses to run as root; the drill's user must be able to pass through every
    // parent of the scratch directory, or pg_ctl fails with a bare "Permission denied".
    await run('runuser', ['-u', options.osUser, '--', 'test', '-x', scratch]).catch(() => {
      throw new Error(
        `the drill runs PostgreSQL as ${options.osUser}, who cannot reach ${scratch}: give it search permission (chmod o+x) on each parent directory, or set PGA_BACKUP_WORK_DIR to a directory it can reach`,
      )
    })
  }
  const port = 5432
  const log = join(scratch, 'drill.log')
  const started = performance.now()
  const connect = (database: string) =>
    postgres({
      path: join(socketDir, `.s.PGSQL.${port}`),
      database,
      username: 'postgres',
      max: 1,
      onnotice: () => {},
      connect_timeout: 10,
    })
  try {
    await as([
      '-D',
      options.directory,
      '-o',
      `-p ${port} -c listen_addresses='' -c unix_socket_directories=${socketDir} -c hba_file=${hbaFile}`,
      '-l',
      log,
      '-w',
      '-t',
      String(Math.ceil(options.timeoutMs / 1000)),
      'start',
    ])
    const sql = connect('postgres')
    try {
      const deadline = Date.now() + options.timeoutMs
      for (;;) {
        const [row] = await sql<{ recovering: boolean }[]>`select pg_is_in_recovery() as recovering`
        if (!row?.recovering) break
        if (Date.now() > deadline) throw new Error(`recovery did not finish within ${options.timeoutMs} ms`)
        await new Promise((r) => setTimeout(r, 100))
      }
      const openedAfterMs = performance.now() - started
      const checks = await check(sql, connect, options.countTables ?? 20)
      const text = await readFile(log, 'utf8').catch(() => '')
      const stop = /recovery stopping (?:before|after) [^\n]*/.exec(text)?.[0] ?? null
      return { ...checks, stoppedAt: stop, openedAfterMs }
    } finally {
      await sql.end({ timeout: 5 })
    }
  } finally {
    await as(['-D', options.directory, '-m', 'fast', '-w', 'stop']).catch(() => {})
    await rm(scratch, { recursive: true, force: true })
  }
}

async function check(
  sql: postgres.Sql,
  connect: (database: string) => postgres.Sql,
  countTables: number,
): Promise<Omit<DrillChecks, 'stoppedAt'>> {
  const [position] = await sql<{ lsn: string }[]>`select pg_current_wal_lsn()::text as lsn`
  const names = await sql<{ datname: string }[]>`
    select datname from pg_database where datallowconn and not datistemplate order by datname`
  const databases: DrillChecks['databases'] = []
  for (const { datname } of names) {
    const db = connect(datname)
    try {
      const tables = await db<{ name: string }[]>`
        select format('%I.%I', n.nspname, c.relname) as name from pg_class c
        join pg_namespace n on n.oid = c.relnamespace
        where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema')
        order by c.relpages desc, 1 limit ${countTables}`
      const [total] = await db<{ n: number }[]>`
        select count(*)::int as n from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema')`
      const rows: Record<string, number> = {}
      for (const { name } of tables) {
        const [row] = await db.unsafe<{ n: string }[]>(`select count(*)::bigint::text as n from ${name}`)
        rows[name] = Number(row?.n)
      }
      databases.push({ name: datname, tables: total?.n ?? 0, rows })
    } finally {
      await db.end({ timeout: 5 })
    }
  }
  return { reachedLsn: position?.lsn ?? '', databases }
}
