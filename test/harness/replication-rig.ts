// A throwaway PostgreSQL primary with one streaming hot standby, for tests of replication and
// archiving views: the primary archives WAL into a real directory and the standby streams through
// a physical slot. As root, both servers run as the `postgres` OS user. stop() stops both by
// their data directories (pg_ctl), never by process name.
import { appendFileSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { userInfo } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { until } from '../support/until.ts'
import { freePort, run, tempDir } from './processes.ts'

export type ReplicationRig = {
  /** Superuser URL of the primary: postgres://postgres@127.0.0.1:<port>/postgres */
  primaryUrl: string
  /** Superuser URL of the hot standby. */
  standbyUrl: string
  primaryPort: number
  standbyPort: number
  /** Where the primary's archive_command copies finished WAL segments. */
  archiveDir: string
  /** Resolves once the standby has replayed all the primary had written when called (a role or
   * table just created there is then visible on the standby). */
  caughtUp(timeoutMs?: number): Promise<void>
  /** Stops both servers (pg_ctl -m immediate) and removes their directories; safe to call twice. */
  stop(): Promise<void>
}

export const standbySlot = 'pga_standby_slot'

const startTimeoutSeconds = 60
const commandTimeoutMs = 90_000
const streamingTimeoutMs = 30_000

// Same lookup as postgres.ts (not exported there): the newest installed major version.
function postgresBin(): string {
  const root = '/usr/lib/postgresql'
  const versions = existsSync(root)
    ? readdirSync(root)
        .map(Number)
        .filter(Boolean)
        .sort((a, b) => b - a)
    : []
  if (versions.length === 0)
    throw new Error(
      'PostgreSQL server binaries not found under /usr/lib/postgresql: run `npm test`, which installs them',
    )
  return join(root, String(versions[0]), 'bin')
}

/** Distinct free ports (freePort alone may hand out the same port twice). */
async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>()
  while (ports.size < count) ports.add(await freePort())
  return [...ports]
}

/** The last lines of a server log, to make a failed start explain itself. */
function logTail(file: string, lines = 20): string {
  if (!existsSync(file)) return '(no server log)'
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
}

/** A quoted postgresql.conf string value. */
const confString = (value: string) => `'${value.replaceAll("'", "''")}'`

/** Starts a primary and a streaming standby; stops whatever it started if any step fails. */
export async function startReplicationRig(): Promise<ReplicationRig> {
  const bin = postgresBin()
  const root = tempDir('repl')
  const primaryData = join(root, 'primary')
  const standbyData = join(root, 'standby')
  const archiveDir = join(root, 'archive')
  const primaryLog = join(root, 'primary.log')
  const standbyLog = join(root, 'standby.log')
  const asRoot = userInfo().uid === 0
  // cwd inside root: as `postgres`, the repo checkout may not be readable.
  const as = (cmd: string, args: string[]) =>
    asRoot
      ? run('runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args], {
          cwd: root,
          timeout: commandTimeoutMs,
        })
      : run(join(bin, cmd), args, { cwd: root, timeout: commandTimeoutMs })

  // Stoppers for what has been started so far, run newest first.
  const stoppers: (() => Promise<void>)[] = []
  let stopping: Promise<void> | undefined
  const stop = () => {
    stopping ??= (async () => {
      for (const stopOne of stoppers.reverse()) await stopOne().catch(() => {})
      rmSync(root, { recursive: true, force: true })
    })()
    return stopping
  }

  try {
    mkdirSync(archiveDir)
    if (asRoot) {
      const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim())
      const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim())
      // pg_basebackup creates the standby's directory under root, and the archiver writes here.
      for (const dir of [root, archiveDir]) chownSync(dir, uid, gid)
    }

    await as('initdb', ['-D', primaryData, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync'])
    // initdb's trust defaults already allow this; written out so the rig does not rely on them.
    appendFileSync(join(primaryData, 'pg_hba.conf'), 'host replication all 127.0.0.1/32 trust\n')
    // In postgresql.conf rather than -o, so pg_basebackup copies them to the standby too (where
    // archive_mode=on stays idle: a standby only archives with archive_mode=always).
    appendFileSync(
      join(primaryData, 'postgresql.conf'),
      [
        '',
        "listen_addresses = '127.0.0.1'",
        'fsync = off',
        'synchronous_commit = off',
        'full_page_writes = off',
        'wal_level = replica',
        'max_wal_senders = 5',
        'archive_mode = on',
        `archive_command = ${confString(`test ! -f ${archiveDir}/%f && cp %p ${archiveDir}/%f`)}`,
        "shared_preload_libraries = 'pg_stat_statements'",
        'track_io_timing = on',
        'hot_standby = on',
        // Standby feedback every second, so replay_lsn on the primary is fresh in tests.
        'wal_receiver_status_interval = 1s',
        '',
      ].join('\n'),
    )

    const [primaryPort = 0, standbyPort = 0] = await freePorts(2)
    // Port and socket directory per server, on the command line: the config files are shared.
    const serverOptions = (port: number, socketDir: string) =>
      `-p ${port} -c unix_socket_directories=${socketDir}`
    const startServer = async (dataDir: string, port: number, log: string) => {
      try {
        await as('pg_ctl', [
          '-D',
          dataDir,
          '-o',
          serverOptions(port, root),
          '-l',
          log,
          '-w',
          '-t',
          String(startTimeoutSeconds),
          'start',
        ])
      } catch (error) {
        throw new Error(`starting PostgreSQL in ${dataDir} failed; server log:\n${logTail(log)}`, {
          cause: error,
        })
      } finally {
        // Even a failed or timed-out start may have left a postmaster behind.
        stoppers.push(async () => {
          await as('pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', 'stop'])
        })
      }
    }

    await startServer(primaryData, primaryPort, primaryLog)
    const primaryUrl = `postgres://postgres@127.0.0.1:${primaryPort}/postgres`
    const standbyUrl = `postgres://postgres@127.0.0.1:${standbyPort}/postgres`

    const primary = postgres(primaryUrl, { max: 1, connect_timeout: 10, onnotice: () => {} })
    try {
      await primary`select pg_create_physical_replication_slot(${standbySlot})`
      // -c fast: the default spread checkpoint could make the backup wait for minutes.
      await as('pg_basebackup', [
        ...['-h', '127.0.0.1', '-p', String(primaryPort), '-U', 'postgres', '-D', standbyData],
        ...['-R', '-X', 'stream', '-S', standbySlot, '-c', 'fast', '--no-sync'],
      ])
      await startServer(standbyData, standbyPort, standbyLog)

      // The slot's active_pid ties the walsender row to this standby.
      const deadline = Date.now() + streamingTimeoutMs
      let state = 'no walsender'
      while (true) {
        const [row] = await primary<{ state: string }[]>`
          select r.state
          from pg_stat_replication r
          join pg_replication_slots s on s.active_pid = r.pid
          where s.slot_name = ${standbySlot}`
        state = row?.state ?? 'no walsender'
        if (state === 'streaming') break
        if (Date.now() > deadline)
          throw new Error(
            `standby on port ${standbyPort} was not streaming from the primary within ${streamingTimeoutMs} ms ` +
              `(last state: ${state}); standby log:\n${logTail(standbyLog)}`,
          )
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    } finally {
      await primary.end({ timeout: 5 })
    }

    const caughtUp = async (timeoutMs = 60_000) => {
      const [onPrimary, onStandby] = [primaryUrl, standbyUrl].map((url) =>
        postgres(url, { max: 1, connect_timeout: 10, onnotice: () => {} }),
      ) as [postgres.Sql, postgres.Sql]
      try {
        // The insert position: with synchronous_commit = off, pg_current_wal_lsn() (what is
        // written) can still be behind a commit that has returned.
        const [{ lsn } = { lsn: '' }] = await onPrimary<
          { lsn: string }[]
        >`select pg_current_wal_insert_lsn()::text as lsn`
        await until(
          `the standby had not replayed the primary's WAL up to ${lsn}`,
          async () => {
            const [row] = await onStandby<{ behind: boolean | null }[]>`
              select pg_last_wal_replay_lsn() < ${lsn}::pg_lsn as behind`
            return row?.behind === false
          },
          { timeoutMs, intervalMs: 100 },
        )
      } finally {
        await Promise.all([onPrimary.end({ timeout: 5 }), onStandby.end({ timeout: 5 })])
      }
    }

    return { primaryUrl, standbyUrl, primaryPort, standbyPort, archiveDir, caughtUp, stop }
  } catch (error) {
    await stop()
    throw error
  }
}
