// Backups across changes of the service's keys and settings, on one store restarted between them:
// a master-key rotation re-wraps every repository's secret and backup keys, so that once the old
// key is removed the backups still verify, restore (CLI, new key only) and take incrementals; and
// a changed PGA_BACKUP_REPOSITORY leaves the backups recorded at the old location findable there.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { runCli } from '../../src/cli.ts'
import { createLocalKek, parseMasterKey } from '../../src/keys/kek.ts'
import { nodeRuntime } from '../../src/runtime/node.ts'
import { createTestDatabase, startPostgres, type TestPostgres } from '../harness/postgres.ts'
import { run, tempDir } from '../harness/processes.ts'
import { startRestoredServer } from '../harness/restored-server.ts'
import { apiCaller, type Json, settledJob } from '../support/api.ts'
import { startTestApp, type TestApp } from '../support/app.ts'
import { newMasterKey } from '../support/master-key.ts'

const adminToken = 'backup-keys-admin-token-0123456789abcdef'
const oldKey = newMasterKey()
const newKey = newMasterKey()
/** The master key the store's data keys are under now. */
let currentKey = oldKey
let t: TestApp | undefined
let monitored: TestPostgres
let sql: postgres.Sql
let database: string
let repositoryDir: string
let instanceId = ''

const call = apiCaller((path, init) => (t as TestApp).app.request(path, init), adminToken)
const settled = (path: string) => settledJob(call, path)

async function backup(type: string) {
  const started = await call('POST', '/api/v1/backups/trigger', { instanceId, type, compression: 'gzip' })
  expect(started.status, JSON.stringify(started.body)).toBe(202)
  const done = await settled(`/api/v1/backups/${started.body.id}`)
  expect(done.status, done.error).toBe('completed')
  return done
}

const verify = async (id: string) => (await call('POST', `/api/v1/backups/${id}/verify?wait=true`)).body

/** (Re)starts the service on the same store with these keys and this default repository. */
async function restart(env: { key: string; previousKey?: string; repository: string }) {
  await t?.close()
  t = await startTestApp({
    DATABASE_URL: database,
    PGA_ADMIN_TOKEN: adminToken,
    PGA_MASTER_KEY: env.key,
    ...(env.previousKey ? { PGA_MASTER_KEY_PREVIOUS: env.previousKey } : {}),
    PGA_BACKUP_REPOSITORY: env.repository,
    PGA_BACKUP_CHUNK_SIZE: '262144',
  })
}

async function cli(args: string[], env: Record<string, string>) {
  const out: string[] = []
  const err: string[] = []
  const code = await runCli(args, nodeRuntime, {
    env: { DATABASE_URL: database, REDIS_URL: inject('redisUrl'), ...env },
    out: (text) => out.push(text),
    err: (text) => err.push(text),
  })
  return { code, out: out.join(''), err: err.join('') }
}

beforeAll(async () => {
  monitored = await startPostgres(['wal_level=replica', 'full_page_writes=on'])
  await run(join(monitored.binDir, 'pgbench'), ['-i', '-s', '1', '-q', monitored.url])
  sql = postgres(monitored.url, { max: 1, onnotice: () => {} })
  database = await createTestDatabase(inject('pgUrl'))
  repositoryDir = tempDir('backup-keys-repo')
  await restart({ key: oldKey, repository: repositoryDir })
  const created = await call('POST', '/api/v1/instances?test=false', {
    name: 'keys-target',
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

describe('master-key rotation', () => {
  it('re-wraps repository secrets and backup keys, so the backups outlive the old key', async () => {
    const full = await backup('full')
    await sql`update pgbench_accounts set abalance = abalance + 1 where aid <= 10`
    await sql`checkpoint`
    const incremental = await backup('incremental')
    expect(incremental.parentBackupId).toBe(full.id)

    // Step 1 and 2 of the runbook: the new key with the old one as previous, then rotate.
    await restart({ key: newKey, previousKey: oldKey, repository: repositoryDir })
    const env = {
      PGA_MASTER_KEY: newKey,
      PGA_MASTER_KEY_PREVIOUS: oldKey,
      PGA_BACKUP_REPOSITORY: repositoryDir,
    }
    const rotated = await cli(['keys', 'rotate-master-key'], env)
    expect(rotated.code, rotated.err).toBe(0)
    currentKey = newKey
    const report = JSON.parse(rotated.out)
    expect(report.complete).toBe(true)
    expect(report.backupRepositories).toEqual([
      expect.objectContaining({ repository: 'default', secret: true, backupKeys: 2, unopened: [] }),
    ])
    // Again: nothing left to do.
    const again = JSON.parse((await cli(['keys', 'rotate-master-key'], env)).out)
    expect(again.backupRepositories).toEqual([
      expect.objectContaining({ secret: false, backupKeys: 0, unopened: [] }),
    ])
    const newKekId = (await createLocalKek(parseMasterKey(newKey, 'test'))).id
    const file = JSON.parse(readFileSync(join(repositoryDir, 'repository.json'), 'utf8'))
    expect(file.secret.kekId).toBe(newKekId)

    // Step 3: the old key is gone.
    await restart({ key: newKey, repository: repositoryDir })
    for (const id of [full.id, incremental.id])
      expect(await verify(id)).toMatchObject({ ok: true, problems: [] })
    await sql`update pgbench_accounts set abalance = abalance + 1 where aid <= 10`
    await sql`checkpoint`
    const later = await backup('incremental')
    expect(later.parentBackupId).toBe(incremental.id)
    expect(await verify(later.id)).toMatchObject({ ok: true })

    const directory = join(tempDir('keys-restore'), 'data')
    const restored = await cli(
      ['restore', '--backup', incremental.id, '--to', directory, '--repository', repositoryDir],
      { PGA_MASTER_KEY: newKey },
    )
    expect(restored.code, restored.err).toBe(0)
    const server = await startRestoredServer(directory)
    try {
      const check = postgres(server.url, { max: 1 })
      const [row] = await check<
        { n: number }[]
      >`select sum(abalance)::int as n from pgbench_accounts where aid <= 10`
      await check.end()
      expect(row?.n).toBe(10)
    } finally {
      await server.stop()
    }
  }, 400_000)
})

describe('a changed PGA_BACKUP_REPOSITORY', () => {
  const repositories = async () => (await call('GET', '/api/v1/backup-repositories')).body.items as Json[]

  it('keeps the record of the old location for its backups, and takes it back when set again', async () => {
    const before = await backup('full')
    const first = (await repositories()).find((r) => r.name === 'default') as Json
    expect(before.repositoryId).toBe(first.id)

    const movedDir = tempDir('backup-keys-moved')
    await restart({ key: currentKey, repository: movedDir })
    expect((t as TestApp).logs.text()).toMatch(/PGA_BACKUP_REPOSITORY changed: the backups recorded at/)
    const moved = await repositories()
    const second = moved.find((r) => r.name === 'default') as Json
    expect(second).toMatchObject({ url: `file://${movedDir}`, isDefault: true, fromEnvironment: true })
    expect(moved.find((r) => r.id === first.id)).toMatchObject({
      name: `default-${first.id.slice(0, 8)}`,
      url: first.url,
      isDefault: false,
    })
    expect(await verify(before.id)).toMatchObject({ ok: true })
    // New backups go to the new location; no chain there yet, so an incremental starts one.
    const after = await backup('incremental')
    expect(after).toMatchObject({ repositoryId: second.id, type: 'full' })
    expect(existsSync(join(movedDir, 'backups', after.id, 'manifest.json'))).toBe(true)

    await restart({ key: currentKey, repository: repositoryDir })
    const back = await repositories()
    expect(back.find((r) => r.name === 'default')).toMatchObject({ id: first.id, isDefault: true })
    expect(back.find((r) => r.id === second.id)).toMatchObject({ url: second.url, isDefault: false })
    for (const id of [before.id, after.id]) expect(await verify(id)).toMatchObject({ ok: true })
  }, 300_000)
})
