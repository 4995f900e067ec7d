// The backup engine against a real PostgreSQL 15 with pgbench data: a full backup through
// pg_basebackup into a directory repository, restored file by file into a data directory that
// plain pg_ctl starts with every row there; an incremental after a few changes stores a small
// fraction; a logical backup of one database. No service, no HTTP: the pieces under them.
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { takeBackup } from '../../src/backup/engine.ts'
import type { BackupManifest } from '../../src/backup/manifest.ts'
import { BackupKeyMismatchError, BackupRepository } from '../../src/backup/repository.ts'
import { restoreFiles } from '../../src/backup/restore-files.ts'
import { HostPolicy } from '../../src/instances/host-policy.ts'
import { createLocalKek } from '../../src/keys/kek.ts'
import { DirectoryBlobStore } from '../../src/platform/blob/directory.ts'
import { randomBytes } from '../../src/platform/crypto/aes-gcm.ts'
import { startPostgres, type TestPostgres } from '../harness/postgres.ts'
import { run, tempDir } from '../harness/processes.ts'
import { startRestoredServer } from '../harness/restored-server.ts'

let server: TestPostgres
let repository: BackupRepository
let repoDir: string
const kek = await createLocalKek(randomBytes(32))
const target = () => ({
  host: '127.0.0.1',
  port: server.port,
  database: 'postgres',
  username: 'postgres',
  sslmode: 'disable' as const,
})
const request = (
  backupId: string,
  type: 'full' | 'incremental' | 'logical',
  parent: BackupManifest | null,
) => ({
  repository,
  backupId,
  type,
  parent,
  instance: { id: crypto.randomUUID(), name: 'engine-test' },
  target: target(),
  compression: 'gzip' as const,
  chunkSize: 1 << 20,
  concurrency: 4,
  connectTimeoutMs: 10_000,
  hostPolicy: new HostPolicy({ allow: [], deny: [] }),
  // The pg_basebackup path (the server is readable here, so auto would copy it locally:
  // backup-local.test.ts covers that).
  copyMethod: 'stream' as const,
})

beforeAll(async () => {
  server = await startPostgres(['wal_level=replica', 'full_page_writes=on'])
  await run(join(server.binDir, 'pgbench'), ['-i', '-s', '3', '-q', server.url])
  repoDir = tempDir('backup-repo')
  repository = await BackupRepository.open(new DirectoryBlobStore(repoDir), [kek], { create: true })
}, 120_000)
afterAll(async () => {
  await server?.stop()
})

describe('backup engine', () => {
  let full: BackupManifest
  it('takes a full backup that plain pg_ctl starts from, every row there', async () => {
    const backupId = crypto.randomUUID()
    let progress = 0
    const result = await takeBackup({
      ...request(backupId, 'full', null),
      onProgress: (p) => (progress = p.bytesDone),
    })
    full = result.manifest
    expect(full.files.some((f) => f.path === 'global/pg_control')).toBe(true)
    expect(full.startLsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/)
    expect(full.stats.newChunks).toBeGreaterThan(0)
    expect(progress).toBeGreaterThan(30 << 20)
    const { manifest } = await repository.getManifest(backupId)
    expect(manifest.fileCount).toBe(full.files.length)

    const dataDir = join(tempDir('restored'), 'data')
    mkdirSync(dataDir, { mode: 0o700 })
    const bytes = await restoreFiles(repository, manifest, dataDir)
    expect(bytes).toBe(manifest.files.reduce((sum, f) => sum + f.size, 0))
    const restored = await startRestoredServer(dataDir)
    try {
      const sql = postgres(restored.url, { max: 1 })
      const [row] = await sql<{ n: number }[]>`select count(*)::int as n from pgbench_accounts`
      await sql.end()
      expect(row?.n).toBe(300_000)
    } finally {
      await restored.stop()
    }
  }, 180_000)

  it('stores a small fraction for an incremental after a few changes', async () => {
    const sql = postgres(server.url, { max: 1 })
    await sql`update pgbench_accounts set abalance = abalance + 1 where aid <= 50`
    await sql`checkpoint`
    await sql.end()
    const { manifest } = await takeBackup(request(crypto.randomUUID(), 'incremental', full))
    expect(manifest.parentBackupId).toBe(full.backupId)
    expect(manifest.owners).toContain(full.backupId)
    expect(manifest.stats.newChunks).toBeLessThan(full.stats.newChunks * 0.25)
    expect(manifest.stats.storedBytes).toBeLessThan(full.stats.storedBytes * 0.25)
  }, 120_000)

  it('takes a logical backup of one database', async () => {
    const { manifest } = await takeBackup({
      ...request(crypto.randomUUID(), 'logical', null),
      database: 'postgres',
    })
    expect(manifest.files).toHaveLength(1)
    expect(manifest.files[0]?.path).toBe('postgres.pgdump')
    expect(manifest.files[0]?.size).toBeGreaterThan(1 << 20)
  }, 120_000)

  it('refuses to open the repository with another master key', async () => {
    const other = await createLocalKek(randomBytes(32))
    await expect(
      BackupRepository.open(new DirectoryBlobStore(repoDir), [other], { create: false }),
    ).rejects.toBeInstanceOf(BackupKeyMismatchError)
  })
})
