// Backups through the API against a real PostgreSQL 15 with pgbench data, the service's store on
// the test cluster and a directory repository: full, incremental (a small fraction stored),
// logical, verify, a restore drill, a point-in-time restore through the CLI, and verification
// catching a flipped byte, a missing chunk, a chunk swapped from another backup, a missing WAL
// segment and a deleted parent; unreachable targets, a non-empty directory and a wrong master key
// refused; cancel; permissions.
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../../src/cli.ts'
import { nodeRuntime } from '../../src/runtime/node.ts'
import { startPostgres, type TestPostgres } from '../harness/postgres.ts'
import { run, tempDir } from '../harness/processes.ts'
import { startRestoredServer } from '../harness/restored-server.ts'
import { apiCaller, type Json, settledJob } from '../support/api.ts'
import { startTestApp, type TestApp } from '../support/app.ts'
import { testMasterKey } from '../support/master-key.ts'
import { until } from '../support/until.ts'

const adminToken = 'backup-api-admin-token-0123456789abcdef'
let t: TestApp
let monitored: TestPostgres
let repositoryDir: string
let instanceId = ''
let sql: postgres.Sql

const call = apiCaller((path, init) => t.app.request(path, init), adminToken)
const settled = (path: string) => settledJob(call, path)

async function backup(type: string, extra: Json = {}) {
  const started = await call('POST', '/api/v1/backups/trigger', {
    instanceId,
    type,
    compression: 'gzip',
    ...extra,
  })
  expect(started.status, JSON.stringify(started.body)).toBe(202)
  const done = await settled(`/api/v1/backups/${started.body.id}`)
  expect(done.status, done.error).toBe('completed')
  return done
}

const chunkFiles = (backupId: string) => {
  const root = join(repositoryDir, 'backups', backupId, 'chunks')
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name))
}

beforeAll(async () => {
  // wal_keep_size: every segment since the start stays in pg_wal, for the wal-push test.
  monitored = await startPostgres(['wal_level=replica', 'full_page_writes=on', 'wal_keep_size=1GB'])
  await run(join(monitored.binDir, 'pgbench'), ['-i', '-s', '2', '-q', monitored.url])
  sql = postgres(monitored.url, { max: 1, onnotice: () => {} })
  await sql`create table events (id serial primary key, label text)`
  repositoryDir = tempDir('backup-api-repo')
  t = await startTestApp({
    PGA_ADMIN_TOKEN: adminToken,
    PGA_BACKUP_REPOSITORY: repositoryDir,
    PGA_BACKUP_CHUNK_SIZE: '262144',
    PGA_DATA_DIR: tempDir('backup-api-data'),
  })
  await t.deps.backup.start({ run: false })
  const created = await call('POST', '/api/v1/instances?test=false', {
    name: 'backup-target',
    host: '127.0.0.1',
    port: monitored.port,
    username: 'postgres',
    sslmode: 'disable',
    enabled: false,
    walStreaming: false,
  })
  expect(created.status).toBe(201)
  instanceId = created.body.id
}, 180_000)

afterAll(async () => {
  await t?.close()
  await sql?.end()
  await monitored?.stop()
})

describe('backups through the API', () => {
  let full: Json
  let incremental: Json

  it('takes a full backup, then an incremental and a differential that store a small fraction', async () => {
    full = await backup('full')
    expect(full.sourceSizeBytes).toBeGreaterThan(20 << 20)
    expect(full.manifestSha256).toMatch(/^[0-9a-f]{64}$/)
    // The service runs here and reads the cluster's data directory: the local copy ran, and the
    // audit event says so (an event may still be in the outbox or already in the log).
    // The record says completed just before the event is written: wait for it.
    const method = await until('the backup.completed audit event', async () => {
      const [event] = await t.deps.db.sql<{ method: string | null }[]>`
        select event->'changes'->>'copyMethod' as method from audit_outbox
         where event->>'eventType' = 'backup.completed' and event->>'resourceId' = ${full.id}
        union all
        select changes->>'copyMethod' from audit_logs
         where event_type = 'backup.completed' and resource_id = ${full.id}`
      return event ? (event.method ?? 'none') : undefined
    })
    expect(method).toBe('local')
    await sql`update pgbench_accounts set abalance = abalance + 1 where aid <= 20`
    await sql`checkpoint`
    incremental = await backup('incremental')
    expect(incremental.parentBackupId).toBe(full.id)
    expect(incremental.storedSizeBytes).toBeLessThan(full.storedSizeBytes * 0.25)
    const listed = await call('GET', `/api/v1/backups?instanceId=${instanceId}&limit=1`)
    expect(listed.body.items[0].id).toBe(incremental.id)
    const next = await call(
      'GET',
      `/api/v1/backups?instanceId=${instanceId}&limit=1&cursor=${listed.body.nextCursor}`,
    )
    expect(next.body.items[0].id).toBe(full.id)
    // A differential stores what changed since the full, whatever incrementals came between.
    await sql`update pgbench_accounts set abalance = abalance + 1 where aid > 199980`
    await sql`checkpoint`
    const differential = await backup('differential')
    expect(differential.parentBackupId).toBe(full.id)
    expect(differential.storedSizeBytes).toBeLessThan(full.storedSizeBytes * 0.25)
    const verified = await call('POST', `/api/v1/backups/${differential.id}/verify?wait=true`)
    expect(verified.body).toMatchObject({ ok: true, problems: [] })
  }, 240_000)

  it('verifies both, and a restore drill of the incremental opens with every row', async () => {
    for (const id of [full.id, incremental.id]) {
      const verified = await call('POST', `/api/v1/backups/${id}/verify?wait=true`)
      expect(verified.status).toBe(200)
      expect(verified.body).toMatchObject({ ok: true, problems: [] })
    }
    const drill = await call('POST', `/api/v1/backups/${incremental.id}/restore`, { mode: 'verify' })
    expect(drill.status, JSON.stringify(drill.body)).toBe(202)
    const done = await settled(`/api/v1/restore-operations/${drill.body.id}`)
    expect(done.status, done.error).toBe('completed')
    expect(done.rtoMs).toBeGreaterThan(0)
    const db = (done.checks.databases as Json[]).find((d) => d.name === 'postgres')
    expect(db?.rows['public.pgbench_accounts']).toBe(200_000)
  }, 240_000)

  it('restores through the CLI with the repository and the master key only', async () => {
    const directory = join(tempDir('cli-restore'), 'data')
    const out: string[] = []
    const code = await runCli(
      ['restore', '--backup', incremental.id, '--to', directory, '--repository', repositoryDir],
      nodeRuntime,
      {
        env: { PGA_MASTER_KEY: testMasterKey, DATABASE_URL: 'postgres://unused@127.0.0.1:1/x' },
        out: (text) => out.push(text),
        err: () => {},
      },
    )
    expect(code).toBe(0)
    expect(JSON.parse(out.join('')).bytes).toBeGreaterThan(20 << 20)
    const restored = await startRestoredServer(directory)
    try {
      const check = postgres(restored.url, { max: 1 })
      const [row] = await check<
        { n: number }[]
      >`select sum(abalance)::int as n from pgbench_accounts where aid <= 20`
      await check.end()
      expect(row?.n).toBe(20)
    } finally {
      await restored.stop()
    }
  }, 240_000)

  it('leaves a restore running on this replica alone when sweeping for dead ones', async () => {
    const op = await call('POST', `/api/v1/backups/${incremental.id}/restore`, {
      mode: 'directory',
      targetDirectory: join(tempDir('api-restore'), 'data'),
    })
    expect(op.status, JSON.stringify(op.body)).toBe(202)
    const path = `/api/v1/restore-operations/${op.body.id}`
    await until('the restore to start', async () => (await call('GET', path)).body.status !== 'pending', {
      intervalMs: 10,
    })
    // Leases are re-entrant for their holder: the sweeper must not take this replica's own job.
    await t.deps.backup.runner.sweepRestores()
    const done = await settled(path)
    expect(done.status, done.error).toBe('completed')
  }, 120_000)

  it('takes a logical backup and restores it into a new database', async () => {
    const logical = await backup('logical', { database: 'postgres' })
    const op = await call('POST', `/api/v1/backups/${logical.id}/restore`, {
      mode: 'database',
      targetDatabase: 'restored_copy',
    })
    expect(op.status, JSON.stringify(op.body)).toBe(202)
    expect((await settled(`/api/v1/restore-operations/${op.body.id}`)).status).toBe('completed')
    const copy = postgres({ ...sql.options, database: 'restored_copy', max: 1 } as never)
    const [row] = await copy<{ n: number }[]>`select count(*)::int as n from pgbench_accounts`
    await copy.end()
    expect(row?.n).toBe(200_000)
  }, 240_000)

  it('refuses unreachable targets, a non-empty directory and a missing database name, changing nothing', async () => {
    const before = new Date(Date.parse(full.consistentAt) - 3_600_000).toISOString()
    const early = await call('POST', `/api/v1/backups/${full.id}/restore`, {
      mode: 'verify',
      targetTime: before,
    })
    expect([early.status, early.body.code]).toEqual([422, 'restore_target_unreachable'])
    const late = await call('POST', `/api/v1/backups/${full.id}/restore`, {
      mode: 'verify',
      targetTime: '2999-01-01T00:00:00Z',
    })
    expect([late.status, late.body.code]).toEqual([422, 'restore_target_unreachable'])
    const busy = tempDir('busy')
    writeFileSync(join(busy, 'x'), 'x')
    const full2 = await call('POST', `/api/v1/backups/${full.id}/restore`, {
      mode: 'directory',
      targetDirectory: busy,
    })
    expect([full2.status, full2.body.code]).toEqual([409, 'restore_directory_not_empty'])
    const relative = await call('POST', `/api/v1/backups/${full.id}/restore`, {
      mode: 'directory',
      targetDirectory: 'data',
    })
    expect([relative.status, relative.body.code]).toEqual([400, 'target_directory_invalid'])
    const two = await call('POST', `/api/v1/backups/${full.id}/restore`, {
      mode: 'verify',
      targetTime: full.consistentAt,
      targetLsn: '0/0',
    })
    expect([two.status, two.body.code]).toEqual([400, 'validation_failed'])
    const listed = await call('GET', `/api/v1/restore-operations?backupId=${full.id}`)
    expect(listed.body.items).toHaveLength(0)
  })

  it('lets operators run backups but only administrators restore', async () => {
    const key = await call('POST', '/api/v1/api-keys', { name: 'operator key', role: 'operator' })
    const operator = key.body.key as string
    expect((await call('GET', '/api/v1/backups', undefined, operator)).status).toBe(200)
    const refused = await call('POST', `/api/v1/backups/${full.id}/restore`, { mode: 'verify' }, operator)
    expect([refused.status, refused.body.code]).toEqual([403, 'permission_denied'])
  })
})

describe('verification finds damage', () => {
  let base: Json
  let child: Json
  beforeAll(async () => {
    base = await backup('full')
    await sql`insert into events (label) select 'row ' || g from generate_series(1, 5000) g`
    child = await backup('incremental')
  }, 240_000)

  const verify = async (id: string) => (await call('POST', `/api/v1/backups/${id}/verify?wait=true`)).body

  it('a flipped byte in a chunk', async () => {
    const [file] = chunkFiles(child.id)
    const original = readFileSync(file as string)
    const flipped = Buffer.from(original)
    flipped[flipped.length - 20] = (flipped[flipped.length - 20] as number) ^ 0xff
    writeFileSync(file as string, flipped)
    const result = await verify(child.id)
    writeFileSync(file as string, original)
    expect(result.ok).toBe(false)
    expect(result.problems.join()).toMatch(/was altered or does not belong there/)
  })

  it('a missing chunk', async () => {
    const [file] = chunkFiles(child.id)
    const original = readFileSync(file as string)
    rmSync(file as string)
    const result = await verify(child.id)
    writeFileSync(file as string, original)
    expect(result.problems.join()).toMatch(/is missing/)
    expect((await verify(child.id)).ok).toBe(true)
  })

  it('a chunk swapped in from another backup', async () => {
    const [mine] = chunkFiles(child.id)
    const [theirs] = chunkFiles(base.id)
    const original = readFileSync(mine as string)
    writeFileSync(mine as string, readFileSync(theirs as string))
    const result = await verify(child.id)
    writeFileSync(mine as string, original)
    expect(result.problems.join()).toMatch(/was altered or does not belong there/)
  })

  it('a deleted parent of an incremental', async () => {
    const parentDir = join(repositoryDir, 'backups', base.id)
    const moved = `${parentDir}.away`
    await import('node:fs/promises').then((fs) => fs.rename(parentDir, moved))
    const result = await verify(child.id)
    await import('node:fs/promises').then((fs) => fs.rename(moved, parentDir))
    expect(result.problems.join()).toMatch(
      new RegExp(`backup ${base.id}, whose chunks this one reuses, is missing`),
    )
  })

  it('a missing WAL segment between two stored ones', async () => {
    const { manifest } = await (
      await t.deps.backup.repositories.open((await t.deps.backup.repositories.resolve())!)
    ).getManifest(base.id)
    const timeline = manifest.timeline.toString(16).toUpperCase().padStart(8, '0')
    const walDir = join(repositoryDir, 'wal', manifest.instance.systemIdentifier as string, timeline)
    // Three WAL segments after the backup, as wal-push would archive them; the middle one lost.
    const out: string[] = []
    const env = {
      PGA_MASTER_KEY: testMasterKey,
      PGA_BACKUP_REPOSITORY: repositoryDir,
      DATABASE_URL: 'postgres://u@127.0.0.1:1/x',
    }
    const segments: string[] = []
    for (let i = 0; i < 3; i++) {
      const [row] = await sql<{ name: string }[]>`select pg_walfile_name(pg_current_wal_lsn()) as name`
      await sql`select pg_switch_wal()`
      await sql`insert into events (label) values ('switch')`
      segments.push(row?.name as string)
    }
    const pgWal = join(monitored.dataDir, 'pg_wal')
    for (const name of segments)
      expect(
        await runCli(['wal-push', join(pgWal, name), '--pgdata', monitored.dataDir], nodeRuntime, {
          env,
          out: (x) => out.push(x),
          err: () => {},
        }),
      ).toBe(0)
    // From the backup's start on, as an archive_command would have stored them all along.
    const [start] = await sql<
      { name: string }[]
    >`select pg_walfile_name(${manifest.startLsn}::pg_lsn) as name`
    for (const name of readdirSync(pgWal).filter(
      (n) => /^[0-9A-F]{24}$/.test(n) && n >= (start?.name as string) && n < (segments[0] as string),
    ))
      expect(
        await runCli(['wal-push', join(pgWal, name), '--pgdata', monitored.dataDir], nodeRuntime, {
          env,
          out: () => {},
          err: () => {},
        }),
      ).toBe(0)
    expect((await verify(base.id)).ok).toBe(true)
    // restore_command: the same bytes back, under the cluster of the data directory; 1 when absent.
    const fetched = join(tempDir('wal-fetch'), 'segment')
    const fetch = (name: string) =>
      runCli(['wal-fetch', name, fetched, '--pgdata', monitored.dataDir], nodeRuntime, {
        env,
        out: () => {},
        err: () => {},
      })
    expect(await fetch(segments[0] as string)).toBe(0)
    expect(readFileSync(fetched).equals(readFileSync(join(pgWal, segments[0] as string)))).toBe(true)
    expect(await fetch('0000000100000000000000FF')).toBe(1)
    rmSync(join(walDir, segments[1] as string))
    const result = await verify(base.id)
    expect(result.problems.join()).toMatch(new RegExp(`WAL segment ${segments[1]} is missing`))
    expect(result.wal.gapAt).toBe(segments[1])
  })

  it('refuses a restore with a master key that did not make the repository', async () => {
    const file = join(repositoryDir, 'repository.json')
    const original = readFileSync(file, 'utf8')
    const parsed = JSON.parse(original)
    writeFileSync(
      file,
      JSON.stringify({ ...parsed, secret: { ...parsed.secret, kekId: 'local:0000000000000000' } }),
    )
    const row = (await t.deps.backup.repositories.resolve())!
    t.deps.backup.repositories.forget(row.id)
    const refused = await call('POST', `/api/v1/backups/${base.id}/restore`, { mode: 'verify' })
    writeFileSync(file, original)
    t.deps.backup.repositories.forget(row.id)
    expect([refused.status, refused.body.code]).toEqual([422, 'backup_key_mismatch'])
  })
})
