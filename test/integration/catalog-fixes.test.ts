// Catalog corrections, each against a real server that shows the case: a cluster of its own where
// pg_stat_statements is created but not preloaded (the probe turns the statements groups off with
// the reason), a base-backup WAL sender (not a standby), WAL history files next to segments,
// a row lock (its wait names the table, its root blocker has no wait time), and a standby that
// does not stream (its WAL position is what it replayed).
import { spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { userInfo } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  findGroup,
  type MetricGroup,
  type PlannedQuery,
  planGroup,
} from '../../src/collector/catalog/index.ts'
import { type Capabilities, probeCapabilities } from '../../src/instances/probe.ts'
import { startPostgres, type TestPostgres } from '../harness/postgres.ts'
import { freePort, run, tempDir } from '../harness/processes.ts'
import { figure } from '../support/figures.ts'
import { until } from '../support/until.ts'

let cluster: TestPostgres
let admin: postgres.Sql
let capabilities: Capabilities
const asRoot = userInfo().uid === 0

beforeAll(async () => {
  cluster = await startPostgres(["shared_preload_libraries=''"])
  admin = postgres(cluster.url, { max: 1, onnotice: () => {} })
  await admin`create extension pg_stat_statements`
  await admin`create table t (id int primary key, v text)`
  await admin`insert into t values (1, 'a'), (2, 'b')`
  capabilities = await probeCapabilities(admin)
}, 120_000)

afterAll(async () => {
  await admin?.end()
  await cluster?.stop()
})

const sqlOf = (name: string) => (planGroup(findGroup(name) as MetricGroup, capabilities) as PlannedQuery).sql

describe('capability probe', () => {
  it('turns the statements groups off when pg_stat_statements is created but not preloaded', async () => {
    expect(capabilities).toMatchObject({ statementsSchema: 'public', statementsLoaded: false })
    for (const name of ['statements', 'statements_info']) {
      expect(planGroup(findGroup(name) as MetricGroup, capabilities)).toEqual({
        unavailable: expect.stringContaining('shared_preload_libraries'),
      })
      expect(capabilities.limitations).toContainEqual(expect.stringContaining(`the ${name} group is off`))
    }
    // What the group would otherwise fail with on every round.
    await expect(admin`select * from pg_stat_statements(false)`).rejects.toThrow(/shared_preload_libraries/)
  })
})

describe('storage', () => {
  it('counts WAL segments only, not history, backup or partial files', async () => {
    // What pg_wal holds besides segments: timeline history, backup history, partial segments.
    for (const name of [
      '00000002.history',
      '000000010000000000000001.00000028.backup',
      '000000010000000000000099.partial',
    ])
      writeFileSync(join(cluster.dataDir, 'pg_wal', name), '')
    const files = await admin<{ name: string }[]>`select name from pg_ls_waldir()`
    const segments = files.filter((f) => /^[0-9A-F]{24}$/.test(f.name))
    expect(files.some((f) => f.name.endsWith('.backup'))).toBe(true)
    const rows = await admin.unsafe(sqlOf('storage'))
    const wal = rows.find((r) => r.kind === 'wal_directory')
    expect(Number(wal?.files)).toBe(segments.length)
  })
})

describe('locks', () => {
  it('names the table of a row wait and gives a root blocker no wait time', async () => {
    const blocker = postgres(cluster.url, { max: 1, onnotice: () => {} })
    const waiter = postgres(cluster.url, { max: 1, onnotice: () => {} })
    const observer = postgres(cluster.url, { max: 1, onnotice: () => {} })
    let waiting: Promise<unknown> | undefined
    try {
      const [{ pid: blockerPid }] = (await blocker`select pg_backend_pid() as pid`) as unknown as [
        { pid: number },
      ]
      const [{ pid: waiterPid }] = (await waiter`select pg_backend_pid() as pid`) as unknown as [
        { pid: number },
      ]
      await blocker.unsafe(`begin; update t set v = 'blocker' where id = 1`)
      waiting = waiter`update t set v = 'waiter' where id = 1`.execute()
      const rows = await until(
        'the waiter on the blocker’s transaction',
        async () => {
          const rows: Record<string, unknown>[] = await observer.unsafe(sqlOf('locks'))
          return rows.some((r) => r.pid === waiterPid && r.lock_type === 'transactionid') && rows
        },
        { timeoutMs: 30_000 },
      )
      const waits = rows.find((r) => r.pid === waiterPid)
      const root = rows.find((r) => r.pid === blockerPid)
      expect(waits).toMatchObject({ lock_type: 'transactionid', relation: 't', lock_mode: 'ShareLock' })
      expect(waits?.wait_seconds).toBeGreaterThanOrEqual(0)
      expect(root).toMatchObject({ state: 'idle in transaction', blocked_sessions: 1, relation: null })
      expect(root?.wait_seconds).toBeNull()
    } finally {
      await blocker.unsafe('rollback').catch(() => {})
      await waiting?.catch(() => {})
      await Promise.all([blocker.end(), waiter.end(), observer.end()])
    }
  }, 90_000)
})

describe('replication', () => {
  it('does not report a base backup’s WAL sender as a standby', async () => {
    const target = tempDir('pga-basebackup')
    // Throttled to the minimum, the backup stays in progress while the group is collected.
    const backup = spawn(join(cluster.binDir, 'pg_basebackup'), [
      '-h',
      '127.0.0.1',
      '-p',
      String(cluster.port),
      '-U',
      'postgres',
      '-D',
      join(target, 'data'),
      '-X',
      'none',
      '-r',
      '32k',
    ])
    try {
      await until(
        'a walsender in the backup state',
        async () => {
          const senders = await admin<{ state: string }[]>`select state from pg_stat_replication`
          return senders.some((s) => s.state === 'backup')
        },
        { timeoutMs: 30_000 },
      )
      expect(await admin.unsafe(sqlOf('replication'))).toEqual([])
    } finally {
      backup.kill('SIGTERM')
    }
  }, 90_000)
})

describe('a standby that does not stream', () => {
  let standby: { url: string; dataDir: string } | undefined

  afterAll(async () => {
    if (standby) await pgCtl(['-D', standby.dataDir, '-m', 'immediate', '-w', 'stop']).catch(() => {})
  })

  it('has a WAL position (what it replayed) and the WAL its slot retains', async () => {
    const dir = tempDir('pga-standby')
    const dataDir = join(dir, 'data')
    mkdirSync(dataDir, { mode: 0o700 })
    if (asRoot) await run('chown', ['-R', 'postgres:postgres', dir])
    await pgTool('pg_basebackup', [
      '-h',
      '127.0.0.1',
      '-p',
      String(cluster.port),
      '-U',
      'postgres',
      '-D',
      dataDir,
    ])
    // A standby with no primary_conninfo: it replays what it has and never streams.
    writeFileSync(join(dataDir, 'standby.signal'), '')
    if (asRoot) await run('chown', ['-R', 'postgres:postgres', dir])
    const port = await freePort()
    await pgCtl([
      '-D',
      dataDir,
      '-o',
      `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${dir} -c shared_preload_libraries='' -c max_connections=200`,
      '-l',
      join(dir, 'server.log'),
      '-w',
      '-t',
      '60',
      'start',
    ])
    standby = { url: `postgres://postgres@127.0.0.1:${port}/postgres`, dataDir }
    const sql = postgres(standby.url, { max: 1, onnotice: () => {} })
    try {
      const [state] = await sql<{ recovery: boolean; received: string | null }[]>`
        select pg_is_in_recovery() as recovery, pg_last_wal_receive_lsn()::text as received`
      expect(state).toEqual({ recovery: true, received: null })
      await sql`select pg_create_physical_replication_slot('pga_cascade', true)`
      const standbyCapabilities = await probeCapabilities(sql)
      const plan = (name: string) =>
        (planGroup(findGroup(name) as MetricGroup, standbyCapabilities) as PlannedQuery).sql
      const [wal] = await sql.unsafe(plan('wal'))
      expect(Number(wal?.lsn_bytes)).toBeGreaterThan(0)
      const [slot] = await sql.unsafe(plan('replication_slots'))
      expect(slot?.slot_name).toBe('pga_cascade')
      expect(figure(slot?.retained_bytes, 'retained_bytes')).toBeGreaterThanOrEqual(0)
    } finally {
      await sql.end()
    }
  }, 120_000)
})

async function pgTool(tool: string, args: string[]) {
  const bin = join(cluster.binDir, tool)
  return asRoot ? run('runuser', ['-u', 'postgres', '--', bin, ...args]) : run(bin, args)
}
const pgCtl = (args: string[]) => pgTool('pg_ctl', args)
