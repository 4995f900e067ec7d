// Point-in-time recovery with the engine's pieces against a real PostgreSQL 15: a full backup,
// continuous WAL through pg_receivewal and a slot into the repository, a marker row at time T,
// later rows; a restore to T started with plain pg_ctl has the marker and none of the later
// rows; a restore to the latest point has them all, the partial segment included; the restore
// drill starts, checks and removes a restored copy; unreachable targets are refused.
import { join } from 'node:path'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runDrill } from '../../src/backup/drill.ts'
import { takeBackup } from '../../src/backup/engine.ts'
import type { BackupManifest } from '../../src/backup/manifest.ts'
import {
  checkTarget,
  RestoreDirectoryNotEmptyError,
  RestoreTargetUnreachableError,
  restoreToDirectory,
  walEnd,
} from '../../src/backup/recovery.ts'
import { BackupRepository } from '../../src/backup/repository.ts'
import type { WalStream } from '../../src/backup/wal-stream.ts'
import { runCli } from '../../src/cli.ts'
import { HostPolicy } from '../../src/instances/host-policy.ts'
import { createLocalKek } from '../../src/keys/kek.ts'
import { DirectoryBlobStore } from '../../src/platform/blob/directory.ts'
import { randomBytes } from '../../src/platform/crypto/aes-gcm.ts'
import { nodeRuntime } from '../../src/runtime/node.ts'
import { startPostgres, type TestPostgres } from '../harness/postgres.ts'
import { run, tempDir } from '../harness/processes.ts'
import { startRestoredServer } from '../harness/restored-server.ts'
import { until } from '../support/until.ts'
import { startTestWalStream } from '../support/wal-stream.ts'

let server: TestPostgres
let repository: BackupRepository
let stream: WalStream
let walCaughtUp: () => Promise<void>
let full: BackupManifest
let sql: postgres.Sql
let markerTime = ''
// The master key, as PGA_MASTER_KEY gives it to the CLI; the repository's directory.
const masterKey = Buffer.from(randomBytes(32))
const repositoryDir = tempDir('pitr-repo')
const target = () => ({
  host: '127.0.0.1',
  port: server.port,
  database: 'postgres',
  username: 'postgres',
  sslmode: 'disable' as const,
})

const hostPolicy = new HostPolicy({ allow: [], deny: [] })

beforeAll(async () => {
  server = await startPostgres(['wal_level=replica', 'full_page_writes=on'])
  await run(join(server.binDir, 'pgbench'), ['-i', '-s', '1', '-q', server.url])
  sql = postgres(server.url, { max: 1, onnotice: () => {} })
  await sql`create table events (id serial primary key, label text not null, at timestamptz default clock_timestamp())`
  const kek = await createLocalKek(masterKey)
  repository = await BackupRepository.open(new DirectoryBlobStore(repositoryDir), [kek], {
    create: true,
  })
  ;({ stream, caughtUp: walCaughtUp } = await startTestWalStream({
    server,
    sql,
    repository,
    slotName: 'pga_test_slot',
  }))
  full = (
    await takeBackup({
      repository,
      backupId: crypto.randomUUID(),
      type: 'full',
      parent: null,
      instance: { id: crypto.randomUUID(), name: 'pitr' },
      target: target(),
      compression: 'gzip',
      chunkSize: 1 << 20,
      concurrency: 4,
      connectTimeoutMs: 10_000,
      hostPolicy,
      // PITR from a pg_basebackup stream; backup-local.test.ts restores a local copy to a time.
      copyMethod: 'stream',
    })
  ).manifest
  await sql`insert into events (label) select 'before-' || g from generate_series(1, 100) g`
  await sql`insert into events (label) values ('marker')`
  const [now] = await sql<{ t: Date }[]>`select clock_timestamp() as t`
  // A Date keeps milliseconds, the commit time microseconds: rounded down, T could fall before the
  // marker's commit (less than 1 ms earlier) and recovery rightly stop before it. Round up.
  markerTime = new Date((now as { t: Date }).t.getTime() + 1).toISOString()
  // Later commits must be clearly after T: on the server's clock, which stamps them.
  await until(
    'the server clock a second past T',
    async () =>
      (
        await sql<{ past: boolean }[]>`
          select clock_timestamp() > ${markerTime}::timestamptz + interval '1 second' as past`
      )[0]?.past,
    { intervalMs: 100 },
  )
  await sql`insert into events (label) select 'after-' || g from generate_series(1, 100) g`
  await sql`update pgbench_accounts set abalance = 7 where aid <= 10`
  await walCaughtUp()
}, 180_000)

afterAll(async () => {
  await stream?.stop()
  await sql?.end()
  await server?.stop()
})

const labels = async (url: string) => {
  const restored = postgres(url, { max: 1 })
  try {
    return (await restored<{ label: string }[]>`select label from events order by id`).map((r) => r.label)
  } finally {
    await restored.end()
  }
}

describe('point-in-time recovery', () => {
  it('restores to a time T through the CLI, with only the repository and the master key', async () => {
    const directory = join(tempDir('pitr-cli'), 'data')
    const code = await runCli(
      [
        'restore',
        '--backup',
        full.backupId,
        '--to',
        directory,
        '--repository',
        repositoryDir,
        '--target-time',
        markerTime,
      ],
      nodeRuntime,
      {
        env: {
          PGA_MASTER_KEY: masterKey.toString('base64'),
          DATABASE_URL: 'postgres://unused@127.0.0.1:1/x',
        },
        out: () => {},
        err: () => {},
      },
    )
    expect(code).toBe(0)
    const restored = await startRestoredServer(directory)
    try {
      const rows = await labels(restored.url)
      expect(rows).toContain('marker')
      expect(rows.filter((l) => l.startsWith('after-'))).toEqual([])
    } finally {
      await restored.stop()
    }
  }, 180_000)

  it('restores to a time T: the marker is there, nothing committed later is', async () => {
    const directory = join(tempDir('pitr-time'), 'data')
    const result = await restoreToDirectory({
      repository,
      manifest: full,
      directory,
      target: { kind: 'time', time: markerTime },
    })
    expect(result.walFiles).toBeGreaterThan(0)
    const restored = await startRestoredServer(directory)
    try {
      const rows = await labels(restored.url)
      expect(rows).toContain('marker')
      expect(rows.filter((l) => l.startsWith('before-'))).toHaveLength(100)
      expect(rows.some((l) => l.startsWith('after-'))).toBe(false)
      expect(await restored.log()).toMatch(/recovery stopping before commit/)
    } finally {
      await restored.stop()
    }
  }, 180_000)

  it('restores to the latest point, through the partial segment', async () => {
    const directory = join(tempDir('pitr-latest'), 'data')
    await restoreToDirectory({ repository, manifest: full, directory, target: { kind: 'latest' } })
    const restored = await startRestoredServer(directory)
    try {
      const rows = await labels(restored.url)
      expect(rows.filter((l) => l.startsWith('after-'))).toHaveLength(100)
    } finally {
      await restored.stop()
    }
  }, 180_000)

  it('runs the restore drill: starts the copy, records its checks, removes it', async () => {
    const directory = join(tempDir('pitr-drill'), 'data')
    await restoreToDirectory({
      repository,
      manifest: full,
      directory,
      target: { kind: 'time', time: markerTime },
    })
    const drill = await runDrill({
      directory,
      pgVersion: full.pgVersion,
      osUser: 'postgres',
      timeoutMs: 120_000,
    })
    expect(drill.stoppedAt).toMatch(/recovery stopping before commit/)
    const postgresDb = drill.databases.find((d) => d.name === 'postgres')
    expect(postgresDb?.rows['public.events']).toBe(101)
    expect(postgresDb?.rows['public.pgbench_accounts']).toBe(100_000)
    expect(drill.openedAfterMs).toBeGreaterThan(0)
    await expect(import('node:fs/promises').then((fs) => fs.stat(directory))).rejects.toThrow(/ENOENT/)
  }, 180_000)

  it('refuses targets outside the restorable window, and a directory that is not empty', async () => {
    const end = await walEnd(repository, full)
    const before = new Date(Date.parse(full.consistentAt) - 60_000).toISOString()
    expect(() =>
      checkTarget(full, { kind: 'time', time: before }, { walEndLsn: end, latestTime: null }),
    ).toThrow(RestoreTargetUnreachableError)
    expect(() =>
      checkTarget(full, { kind: 'lsn', lsn: 'FFFF/0' }, { walEndLsn: end, latestTime: null }),
    ).toThrow(/beyond the WAL/)
    expect(() =>
      checkTarget(
        full,
        { kind: 'time', time: '2999-01-01T00:00:00Z' },
        { walEndLsn: end, latestTime: markerTime },
      ),
    ).toThrow(/after the latest restorable time/)
    const busy = tempDir('pitr-busy')
    await import('node:fs/promises').then((fs) => fs.writeFile(join(busy, 'something'), 'x'))
    await expect(
      restoreToDirectory({ repository, manifest: full, directory: busy, target: { kind: 'latest' } }),
    ).rejects.toBeInstanceOf(RestoreDirectoryNotEmptyError)
  })
})
