// A replica killed in the middle of a backup (two replicas of the binary sharing the store, Redis
// and a directory repository): the survivor's sweep takes the dead runner's lease, marks the
// backup failed and removes what it had stored, and the next backup of the instance succeeds.
import { existsSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { type Cluster, startCluster } from '../harness/cluster.ts'
import { startPostgres, type TestPostgres } from '../harness/postgres.ts'
import { run, tempDir } from '../harness/processes.ts'
import { apiCaller } from '../support/api.ts'
import { until as waitUntil } from '../support/until.ts'

const token = 'backup-failover-admin-token-0123456789'
let cluster: Cluster
let monitored: TestPostgres
let repositoryDir: string

/** A call to one replica's real port. */
const call = (replica: number, method: string, path: string, body?: unknown) =>
  apiCaller((p, init) => fetch(`http://${cluster.replicas[replica]?.address}${p}`, init), token)(
    method,
    path,
    body,
  )
/** Waits for `probe` with this file's deadline (a backup of pgbench scale 30 on a loaded machine). */
const until = <T>(what: string, probe: () => Promise<T | undefined | null | false>) =>
  waitUntil(what, probe, { timeoutMs: 180_000, intervalMs: 250 })

/** Files under the repository's directory of one backup. */
const storedFiles = (id: string) => {
  const dir = join(repositoryDir, 'backups', id)
  return existsSync(dir)
    ? readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile())
    : []
}

beforeAll(async () => {
  monitored = await startPostgres(['wal_level=replica'])
  // Large enough that the backup runs for a few seconds: there is time to kill its replica.
  await run(join(monitored.binDir, 'pgbench'), ['-i', '-s', '30', '-q', monitored.url])
  repositoryDir = tempDir('backup-failover-repo')
  cluster = await startCluster({
    replicas: 2,
    pgUrl: inject('pgUrl'),
    env: {
      PGA_ADMIN_TOKEN: token,
      PGA_BACKUP_REPOSITORY: repositoryDir,
      // Small chunks: objects reach the repository from the first seconds.
      PGA_BACKUP_CHUNK_SIZE: '262144',
      PGA_BACKUP_COMPRESSION: 'none',
    },
  })
}, 300_000)

afterAll(async () => {
  await cluster?.stop()
  await monitored?.stop()
  // About 470 MB of chunks: not left in the temp directory after every run.
  if (repositoryDir) rmSync(repositoryDir, { recursive: true, force: true })
})

describe('a replica killed mid-backup', () => {
  it('leaves a failed, cleaned-up record, and the next backup succeeds', async () => {
    const created = await call(0, 'POST', '/api/v1/instances?test=false', {
      name: 'failover-target',
      host: '127.0.0.1',
      port: monitored.port,
      username: 'postgres',
      sslmode: 'disable',
      enabled: false,
      walStreaming: false,
    })
    expect(created.status).toBe(201)
    const instanceId = created.body.id as string
    const started = await call(0, 'POST', '/api/v1/backups/trigger', { instanceId, type: 'full' })
    expect(started.status).toBe(202)
    const id = started.body.id as string
    // Running on replica 0 (the one asked), with objects in the repository already.
    await until('the backup to be under way', async () => {
      const { body } = await call(1, 'GET', `/api/v1/backups/${id}`)
      expect(body.status).not.toBe('completed')
      return body.status === 'running' && storedFiles(id).length > 0
    })
    await cluster.kill(0)
    expect(storedFiles(id).length).toBeGreaterThan(0)

    const failed = await until('the survivor to fail the orphaned backup', async () => {
      const { body } = await call(1, 'GET', `/api/v1/backups/${id}`)
      return body.status === 'failed' ? body : null
    })
    expect(failed.error).toMatch(/stopped/)
    await until('its objects to be removed', async () => storedFiles(id).length === 0)

    const next = await call(1, 'POST', '/api/v1/backups/trigger', { instanceId, type: 'full' })
    expect(next.status).toBe(202)
    const done = await until('the next backup', async () => {
      const { body } = await call(1, 'GET', `/api/v1/backups/${next.body.id}`)
      return body.status === 'pending' || body.status === 'running' ? null : body
    })
    expect(done.status, JSON.stringify(done)).toBe('completed')
    const verified = await call(1, 'POST', `/api/v1/backups/${next.body.id}/verify?wait=true`)
    expect(verified.body.ok, JSON.stringify(verified.body)).toBe(true)
  }, 300_000)
})
