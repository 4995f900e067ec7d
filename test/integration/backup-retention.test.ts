// Retention and garbage collection against a real PostgreSQL 15 and a directory repository,
// driven by schedules: logical backups counted per database; a backup being restored (another
// replica's restore, recorded running) kept with its chain and the WAL from its start; and
// garbage collection leaving alone what the store does not know (an incremental taken after the
// backup the store was restored from), with the chunks it reuses from a deleted full, so that it
// still verifies and restores.
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { verifyBackup } from '../../src/backup/verify.ts'
import { clusterOfDataDirectory } from '../../src/backup/wal-archive.ts'
import { runCli } from '../../src/cli.ts'
import { nodeRuntime } from '../../src/runtime/node.ts'
import { startPostgres, type TestPostgres } from '../harness/postgres.ts'
import { run, tempDir } from '../harness/processes.ts'
import { startRestoredServer } from '../harness/restored-server.ts'
import { apiCaller, type Json } from '../support/api.ts'
import { startTestApp, type TestApp } from '../support/app.ts'
import { testMasterKey } from '../support/master-key.ts'
import { until as waitUntil } from '../support/until.ts'

const adminToken = 'backup-retention-admin-token-0123456789abcdef'
let t: TestApp
let monitored: TestPostgres
let sql: postgres.Sql
let repositoryDir: string

const call = apiCaller((path, init) => t.app.request(path, init), adminToken)
/** Waits for `probe` with this file's deadline, showing the service's last log lines if it passes. */
const until = <T>(what: string, probe: () => Promise<T | undefined | null | false>) =>
  waitUntil(what, probe, { timeoutMs: 120_000, intervalMs: 250, explain: () => t.logs.text().slice(-3000) })

const get = async (id: string) => (await call('GET', `/api/v1/backups/${id}`)).body
const settled = (id: string) =>
  until(`backup ${id}`, async () => {
    const body = await get(id)
    return body.status === 'pending' || body.status === 'running' ? null : body
  })

async function backup(instanceId: string, type: string, extra: Json = {}) {
  const started = await call('POST', '/api/v1/backups/trigger', {
    instanceId,
    type,
    compression: 'gzip',
    ...extra,
  })
  expect(started.status, JSON.stringify(started.body)).toBe(202)
  const done = await settled(started.body.id)
  expect(done.status, done.error).toBe('completed')
  return done
}

async function addInstance(name: string) {
  const res = await call('POST', '/api/v1/instances?test=false', {
    name,
    host: '127.0.0.1',
    port: monitored.port,
    username: 'postgres',
    sslmode: 'disable',
    enabled: false,
    walStreaming: false,
  })
  expect(res.status).toBe(201)
  return res.body.id as string
}

async function schedule(input: Json) {
  const created = await call('POST', '/api/v1/backup-schedules', { cronExpression: '0 3 * * *', ...input })
  expect(created.status, JSON.stringify(created.body)).toBe(201)
  return created.body.id as string
}

/** Runs a schedule now and waits for its backup and the retention after it. */
async function runSchedule(scheduleId: string) {
  const executions = async () =>
    (await call('GET', `/api/v1/backup-schedules/${scheduleId}/executions`)).body.items as Json[]
  const runs = (await executions()).filter((e) => e.step === 'backup' && e.status === 'started').length
  await t.deps.db
    .sql`update backup_schedule set next_run_at = now() - interval '5 seconds' where id = ${scheduleId}`
  await t.deps.backup.tick()
  const started = await until('the run to start', async () => {
    const found = (await executions()).filter((e) => e.step === 'backup' && e.status === 'started')
    return found.length === runs + 1 ? found : null
  })
  const done = await settled(started[0]?.backupId as string)
  expect(done.status, done.error).toBe('completed')
  await until('retention to run', async () =>
    (await executions()).some((e) => e.step === 'retention' && e.backupId === done.id),
  )
  return done
}

/** A restore another replica runs: recorded running, never finished here. */
async function restoreRunningElsewhere(backupId: string, mode: 'verify' | 'database') {
  const id = crypto.randomUUID()
  await t.deps.db.sql`
    insert into restore_operations (id, backup_id, mode, status, target, runner, started_at)
    values (${id}, ${backupId}, ${mode}, 'running', '{}', 'another-replica', now())`
  return async () => {
    await t.deps.db
      .sql`update restore_operations set status = 'completed', finished_at = now() where id = ${id}`
  }
}

const stored = (id: string) => existsSync(join(repositoryDir, 'backups', id, 'manifest.json'))
const objectsOf = (id: string) =>
  existsSync(join(repositoryDir, 'backups', id))
    ? readdirSync(join(repositoryDir, 'backups', id), { recursive: true, withFileTypes: true }).filter((d) =>
        d.isFile(),
      ).length
    : 0

beforeAll(async () => {
  // wal_keep_size: every segment since the start stays in pg_wal, for wal-push.
  monitored = await startPostgres(['wal_level=replica', 'full_page_writes=on', 'wal_keep_size=1GB'])
  await run(join(monitored.binDir, 'pgbench'), ['-i', '-s', '1', '-q', monitored.url])
  sql = postgres(monitored.url, { max: 1, onnotice: () => {} })
  await sql`create database other`
  repositoryDir = tempDir('backup-retention-repo')
  t = await startTestApp({
    PGA_ADMIN_TOKEN: adminToken,
    PGA_BACKUP_REPOSITORY: repositoryDir,
    PGA_BACKUP_CHUNK_SIZE: '262144',
  })
}, 180_000)

afterAll(async () => {
  await t?.close()
  await sql?.end()
  await monitored?.stop()
})

describe('retention', () => {
  it('counts logical backups per database and keeps one being restored', async () => {
    const instanceId = await addInstance('ret-logical')
    const other = await backup(instanceId, 'logical', { database: 'other' })
    const first = await backup(instanceId, 'logical', { database: 'postgres' })
    const second = await backup(instanceId, 'logical', { database: 'postgres' })
    const finishRestore = await restoreRunningElsewhere(first.id, 'database')
    const scheduleId = await schedule({
      name: 'logical-postgres',
      instanceId,
      backupType: 'logical',
      database: 'postgres',
      retentionFullCount: 1,
    })
    const third = await runSchedule(scheduleId)
    expect((await get(other.id)).deletedAt, 'another database').toBeNull()
    expect(stored(other.id)).toBe(true)
    expect((await get(first.id)).deletedAt, 'being restored').toBeNull()
    expect(stored(first.id)).toBe(true)
    expect((await get(second.id)).deletedAt).toMatch(/^\d{4}-\d\d-\d\dT/)
    expect(objectsOf(second.id)).toBe(0)
    expect((await get(third.id)).deletedAt).toBeNull()

    await finishRestore()
    const fourth = await runSchedule(scheduleId)
    for (const id of [first.id, third.id]) expect((await get(id)).deletedAt).toMatch(/^\d{4}-\d\d-\d\dT/)
    expect(objectsOf(first.id)).toBe(0)
    expect((await get(fourth.id)).deletedAt).toBeNull()
    expect((await get(other.id)).deletedAt).toBeNull()
  }, 300_000)

  it('keeps a chain being restored and the WAL from its start', async () => {
    const instanceId = await addInstance('ret-wal')
    const base = await backup(instanceId, 'full')
    await sql`update pgbench_accounts set abalance = abalance + 1 where aid <= 10`
    await sql`checkpoint`
    const child = await backup(instanceId, 'incremental')
    expect(child.parentBackupId).toBe(base.id)
    // The WAL from the base's start on, as an archive_command would have stored it.
    const [start] = await sql<{ name: string }[]>`select pg_walfile_name(${base.startLsn}::pg_lsn) as name`
    const startSegment = start?.name as string
    await sql`select pg_switch_wal()`
    await sql`insert into pgbench_history (tid, bid, aid, delta, mtime) values (1, 1, 1, 1, now())`
    const [current] = await sql<{ name: string }[]>`select pg_walfile_name(pg_current_wal_lsn()) as name`
    const pgWal = join(monitored.dataDir, 'pg_wal')
    const env = {
      PGA_MASTER_KEY: testMasterKey,
      PGA_BACKUP_REPOSITORY: repositoryDir,
      DATABASE_URL: 'postgres://u@127.0.0.1:1/x',
    }
    for (const name of readdirSync(pgWal).filter(
      (n) => /^[0-9A-F]{24}$/.test(n) && n >= startSegment && n < (current?.name as string),
    ))
      expect(
        await runCli(['wal-push', join(pgWal, name), '--pgdata', monitored.dataDir], nodeRuntime, {
          env,
          out: () => {},
          err: () => {},
        }),
      ).toBe(0)
    const cluster = clusterOfDataDirectory(monitored.dataDir)
    const startWal = join(repositoryDir, 'wal', cluster, startSegment.slice(0, 8), startSegment)
    expect(existsSync(startWal)).toBe(true)

    const finishRestore = await restoreRunningElsewhere(child.id, 'verify')
    const scheduleId = await schedule({
      name: 'full-wal',
      instanceId,
      backupType: 'full',
      retentionFullCount: 1,
    })
    await runSchedule(scheduleId)
    for (const id of [base.id, child.id]) {
      expect((await get(id)).deletedAt, 'its chain is being restored').toBeNull()
      expect(stored(id)).toBe(true)
    }
    expect(existsSync(startWal), 'the WAL the restore needs').toBe(true)

    await finishRestore()
    await runSchedule(scheduleId)
    for (const id of [base.id, child.id]) {
      expect((await get(id)).deletedAt).toMatch(/^\d{4}-\d\d-\d\dT/)
      expect(objectsOf(id)).toBe(0)
    }
    expect(existsSync(startWal)).toBe(false)
  }, 300_000)
})

describe('garbage collection', () => {
  it('keeps a backup the store does not know and the chunks it reuses; it verifies and restores', async () => {
    const instanceId = await addInstance('ret-gc')
    const full = await backup(instanceId, 'full')
    await sql`create table gc_marks (n int)`
    await sql`insert into gc_marks select generate_series(1, 42)`
    await sql`checkpoint`
    const unknown = await backup(instanceId, 'incremental')
    expect(unknown.parentBackupId).toBe(full.id)
    // The store forgets it, as one restored from a dump taken before it would.
    await t.deps.db.sql`delete from backup_metadata where id = ${unknown.id}`
    const middle = await backup(instanceId, 'full')
    const scheduleId = await schedule({
      name: 'full-gc',
      instanceId,
      backupType: 'full',
      retentionFullCount: 1,
    })
    await runSchedule(scheduleId)
    // Retention and GC still work on what the store knows...
    for (const id of [full.id, middle.id]) expect((await get(id)).deletedAt).toMatch(/^\d{4}-\d\d-\d\dT/)
    expect(objectsOf(middle.id)).toBe(0)
    // ...but the unknown incremental stays, with the deleted full's manifest and the chunks it reuses.
    expect(stored(unknown.id)).toBe(true)
    expect(stored(full.id)).toBe(true)

    const repository = await t.deps.backup.repositories.open(
      (await t.deps.backup.repositories.resolve()) as NonNullable<
        Awaited<ReturnType<typeof t.deps.backup.repositories.resolve>>
      >,
    )
    expect(await verifyBackup(repository, unknown.id)).toMatchObject({ ok: true, problems: [] })
    const directory = join(tempDir('gc-restore'), 'data')
    const out: string[] = []
    const code = await runCli(
      ['restore', '--backup', unknown.id, '--to', directory, '--repository', repositoryDir],
      nodeRuntime,
      {
        env: { PGA_MASTER_KEY: testMasterKey, DATABASE_URL: 'postgres://unused@127.0.0.1:1/x' },
        out: (text) => out.push(text),
        err: (text) => out.push(text),
      },
    )
    expect(code, out.join('')).toBe(0)
    const server = await startRestoredServer(directory)
    try {
      const check = postgres(server.url, { max: 1 })
      const [row] = await check<{ n: number }[]>`select count(*)::int as n from gc_marks`
      await check.end()
      expect(row?.n).toBe(42)
    } finally {
      await server.stop()
    }
  }, 300_000)
})
