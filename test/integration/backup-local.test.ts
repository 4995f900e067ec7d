// Full backups read straight from the data directory (local-copy.ts) against a real PostgreSQL 15
// on this host: a local full backup plus continuous WAL restores to a marker time; the copy keeps
// pg_basebackup's exclusions and -X fetch's WAL layout; auto picks local when the directory is
// readable and streams when forced, when it is not readable (another OS user) or when
// full_page_writes is off; verify passes; an incremental after a local full stores few chunks.
import { join, resolve } from 'node:path'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LocalCopyUnavailableError, takeBackup } from '../../src/backup/engine.ts'
import { controlFileSystemIdentifier, probeLocalCopy } from '../../src/backup/local-copy.ts'
import type { BackupManifest } from '../../src/backup/manifest.ts'
import { restoreToDirectory } from '../../src/backup/recovery.ts'
import { BackupRepository } from '../../src/backup/repository.ts'
import { verifyBackup } from '../../src/backup/verify.ts'
import type { WalStream } from '../../src/backup/wal-stream.ts'
import { HostPolicy } from '../../src/instances/host-policy.ts'
import { createLocalKek } from '../../src/keys/kek.ts'
import { DirectoryBlobStore } from '../../src/platform/blob/directory.ts'
import { randomBytes } from '../../src/platform/crypto/aes-gcm.ts'
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
let systemId = ''
const hostPolicy = new HostPolicy({ allow: [], deny: [] })
const instance = { id: crypto.randomUUID(), name: 'local' }
const target = () => ({
  host: '127.0.0.1',
  port: server.port,
  database: 'postgres',
  username: 'postgres',
  sslmode: 'disable' as const,
})

const backup = (
  type: 'full' | 'incremental',
  copyMethod: 'auto' | 'stream' | 'local',
  parent: BackupManifest | null = null,
) =>
  takeBackup({
    repository,
    backupId: crypto.randomUUID(),
    type,
    parent,
    instance,
    target: target(),
    compression: 'gzip',
    chunkSize: 1 << 20,
    concurrency: 4,
    connectTimeoutMs: 10_000,
    hostPolicy,
    copyMethod,
  })

beforeAll(async () => {
  server = await startPostgres(['wal_level=replica', 'full_page_writes=on'])
  await run(join(server.binDir, 'pgbench'), ['-i', '-s', '2', '-q', server.url])
  sql = postgres(server.url, { max: 1, onnotice: () => {} })
  await sql`create table events (id serial primary key, label text not null)`
  await sql`create unlogged table scratch as select g as id, repeat('x', 100) as pad from generate_series(1, 20000) g`
  const [system] = await sql<{ id: string }[]>`select system_identifier::text as id from pg_control_system()`
  systemId = system?.id as string
  repository = await BackupRepository.open(
    new DirectoryBlobStore(tempDir('local-repo')),
    [await createLocalKek(Buffer.from(randomBytes(32)))],
    { create: true },
  )
  ;({ stream, caughtUp: walCaughtUp } = await startTestWalStream({
    server,
    sql,
    repository,
    slotName: 'pga_local_slot',
  }))
  // Writes during the copy: the copy must still restore (WAL replay repairs what changed under it).
  const writer = postgres(server.url, { max: 1, onnotice: () => {} })
  let writing = true
  const writes = (async () => {
    while (writing) await writer`update pgbench_accounts set abalance = abalance + 1 where aid % 97 = 0`
  })()
  try {
    full = (await backup('full', 'local')).manifest
  } finally {
    writing = false
    await writes
    await writer.end()
  }
  await sql`insert into events (label) select 'before-' || g from generate_series(1, 50) g`
  await sql`insert into events (label) values ('marker')`
  const [now] = await sql<{ t: Date }[]>`select clock_timestamp() as t`
  markerTime = new Date((now as { t: Date }).t.getTime() + 1).toISOString()
  await until(
    'the server clock a second past T',
    async () =>
      (
        await sql<{ past: boolean }[]>`
          select clock_timestamp() > ${markerTime}::timestamptz + interval '1 second' as past`
      )[0]?.past,
    { intervalMs: 100 },
  )
  await sql`insert into events (label) select 'after-' || g from generate_series(1, 50) g`
  await walCaughtUp()
}, 240_000)

afterAll(async () => {
  await stream?.stop()
  await sql?.end()
  await server?.stop()
})

describe('local copy of the data directory', () => {
  it('reads pg_control the way the server reports its system identifier', async () => {
    expect(await controlFileSystemIdentifier(server.dataDir)).toBe(systemId)
  })

  it('records the method, keeps pg_basebackup exclusions and lays out the WAL as -X fetch', async () => {
    expect(full.copy).toEqual({ method: 'local' })
    const paths = new Map(full.files.map((f) => [f.path, f]))
    expect(paths.get('backup_label')?.size).toBeGreaterThan(0)
    expect(full.files[0]?.path).toBe('backup_label')
    for (const gone of ['postmaster.pid', 'postmaster.opts']) expect(paths.has(gone), gone).toBe(false)
    for (const emptied of ['pg_replslot', 'pg_stat_tmp', 'pg_subtrans', 'pg_wal', 'pg_wal/archive_status']) {
      expect(paths.get(emptied)?.type, emptied).toBe('directory')
    }
    expect(full.files.some((f) => f.path.startsWith('pg_subtrans/'))).toBe(false)
    expect(full.files.some((f) => f.path.includes('pg_internal.init'))).toBe(false)
    const segments = full.files.filter((f) => /^pg_wal\/[0-9A-F]{24}$/.test(f.path))
    expect(segments.length).toBeGreaterThan(0)
    for (const segment of segments) {
      expect(segment.size).toBe(full.walSegmentSize)
      expect(paths.get(`pg_wal/archive_status/${segment.path.slice(7)}.done`)?.size).toBe(0)
    }
    const [first] = await sql<{ f: string }[]>`select pg_walfile_name(${full.startLsn}::pg_lsn) as f`
    expect(segments[0]?.path).toBe(`pg_wal/${first?.f}`)
    expect(full.files.find((f) => f.path === 'base')?.type).toBe('directory')
    // An unlogged table: its init fork only, as pg_basebackup stores it.
    const [scratch] = await sql<{ path: string }[]>`select pg_relation_filepath('scratch') as path`
    expect(paths.get(`${scratch?.path}_init`)?.type).toBe('file')
    expect(paths.has(scratch?.path as string)).toBe(false)
    expect(full.files.some((f) => f.path.startsWith(`${scratch?.path}_`) && !f.path.endsWith('_init'))).toBe(
      false,
    )
    // The temporary slot and the backup ended with the session.
    const slots = await sql`select 1 from pg_replication_slots where slot_name like 'pga_backup_%'`
    expect(slots).toHaveLength(0)
  })

  it('verifies', async () => {
    const result = await verifyBackup(repository, full.backupId)
    expect(result.problems).toEqual([])
    expect(result.ok).toBe(true)
  }, 120_000)

  it('restores to a time T: the marker is there, nothing committed later is', async () => {
    const directory = join(tempDir('local-pitr'), 'data')
    await restoreToDirectory({
      repository,
      manifest: full,
      directory,
      target: { kind: 'time', time: markerTime },
    })
    const restored = await startRestoredServer(directory)
    try {
      const db = postgres(restored.url, { max: 1 })
      try {
        const rows = (await db<{ label: string }[]>`select label from events order by id`).map((r) => r.label)
        expect(rows).toContain('marker')
        expect(rows.filter((l) => l.startsWith('before-'))).toHaveLength(50)
        expect(rows.some((l) => l.startsWith('after-'))).toBe(false)
        const [count] = await db<{ n: number }[]>`select count(*)::int as n from pgbench_accounts`
        expect(count?.n).toBe(200_000)
        const [scratch] = await db<{ n: number }[]>`select count(*)::int as n from scratch`
        expect(scratch?.n).toBe(0)
      } finally {
        await db.end()
      }
      expect(await restored.log()).toMatch(/recovery stopping before commit/)
    } finally {
      await restored.stop()
    }
  }, 180_000)

  it('an incremental after a local full stores few chunks', async () => {
    await sql`update pgbench_accounts set abalance = 3 where aid <= 20`
    const { manifest } = await backup('incremental', 'auto', full)
    expect(manifest.copy?.method).toBe('local')
    expect(manifest.stats.chunks).toBeGreaterThan(20)
    expect(manifest.stats.newChunks).toBeLessThan(manifest.stats.chunks / 3)
    expect((await verifyBackup(repository, manifest.backupId)).ok).toBe(true)
  }, 120_000)

  it('auto picks local when readable; stream when forced', async () => {
    expect((await backup('full', 'auto')).manifest.copy).toEqual({ method: 'local' })
    const streamed = (await backup('full', 'stream')).manifest
    expect(streamed.copy).toEqual({ method: 'stream', note: 'PGA_BACKUP_COPY_METHOD=stream' })
    expect(streamed.files.some((f) => f.path === 'backup_manifest')).toBe(true)
  }, 180_000)

  it('fails closed when the data directory is not readable by this OS user', async () => {
    const script = resolve(__dirname, '../support/local-probe.ts')
    const bun = resolve(__dirname, '../../node_modules/.bin/bun')
    const { stdout } = await run('runuser', ['-u', 'nobody', '--', bun, script, server.url], {
      cwd: resolve(__dirname, '../..'),
    })
    const probe = JSON.parse(stdout.trim()) as { ok: boolean; reason?: string }
    expect(probe.ok).toBe(false)
    expect(probe.reason).toMatch(/not readable here \(EACCES\)/)
  }, 60_000)

  it('fails closed for a role that may read the settings but not run the backup functions', async () => {
    await sql`create role pga_local_monitor login`
    await sql`grant pg_monitor to pga_local_monitor`
    const monitor = postgres(server.url.replace('postgres@', 'pga_local_monitor@'), {
      max: 1,
      onnotice: () => {},
    })
    try {
      const probe = await probeLocalCopy(monitor)
      expect(probe).toEqual({
        ok: false,
        reason: 'the role may not run the backup functions or create a replication slot',
      })
      await sql`alter role pga_local_monitor replication`
      await sql`grant execute on function pg_backup_start(text, boolean) to pga_local_monitor`
      expect((await probeLocalCopy(monitor)).ok).toBe(true)
    } finally {
      await monitor.end()
    }
  })

  it('fails closed when the cluster has a tablespace', async () => {
    const location = tempDir('local-tablespace')
    await run('chown', ['postgres:postgres', location])
    await sql.unsafe(`create tablespace pga_local_space location '${location}'`)
    try {
      await expect(backup('full', 'local')).rejects.toThrow(/the cluster has tablespaces/)
    } finally {
      await sql`drop tablespace pga_local_space`
    }
  })

  it('refuses local mode when full_page_writes is off: auto streams, forced local fails', async () => {
    // The harness's default server runs with full_page_writes=off (on its command line).
    const unsafe = await startPostgres(['wal_level=replica'])
    const on = (copyMethod: 'auto' | 'local') =>
      takeBackup({
        repository,
        backupId: crypto.randomUUID(),
        type: 'full',
        parent: null,
        instance: { id: crypto.randomUUID(), name: 'no-fpw' },
        target: { ...target(), port: unsafe.port },
        compression: 'gzip',
        chunkSize: 1 << 20,
        concurrency: 4,
        connectTimeoutMs: 10_000,
        hostPolicy,
        copyMethod,
      })
    try {
      const auto = (await on('auto')).manifest
      expect(auto.copy?.method).toBe('stream')
      expect(auto.copy?.note).toMatch(/full_page_writes is off/)
      await expect(on('local')).rejects.toBeInstanceOf(LocalCopyUnavailableError)
    } finally {
      await unsafe.stop()
    }
  }, 180_000)
})
