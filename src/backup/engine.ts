// Takes one backup of a monitored instance into a repository: asks the server what it is
// (version, system identifier, WAL segment size, size), decides which earlier chunks may be
// reused (none for a full, the full's for a differential, the parent's for an incremental), runs
// the copy (pg_basebackup, or pg_dump for a logical backup) through the chunk pipeline, and seals
// the manifest. It knows nothing of records, leases or HTTP: service.ts does.
import type { ConnectionTarget } from '../instances/connection-test.ts'
import { openInstanceConnection } from '../instances/connection-test.ts'
import type { HostPolicy } from '../instances/host-policy.ts'
import { defaultChunkThreads } from './chunk-pool.ts'
import { ChunkWriter } from './chunk-writer.ts'
import type { Compression } from './compression.ts'
import { libpqConnection } from './libpq.ts'
import { type CopyMethod, type CopyMethodSetting, copyLocal, probeLocalCopy } from './local-copy.ts'
import { copyLogical } from './logical.ts'
import type { BackupManifest, BackupType, ManifestFile } from './manifest.ts'
import { findPgTool } from './pg-tools.ts'
import { copyPhysical } from './physical.ts'
import type { BackupRepository } from './repository.ts'

export type ServerFacts = {
  pgVersion: number
  systemIdentifier: string | null
  walSegmentSize: number
  sizeBytes: number
  now: string
}

/** What the engine needs to know about the server before copying. */
export async function serverFacts(
  target: ConnectionTarget,
  connect: { connectTimeoutMs: number; hostPolicy: HostPolicy },
  database?: string,
): Promise<ServerFacts> {
  const sql = openInstanceConnection(
    { ...target, ...(database ? { database } : {}) },
    {
      connectTimeoutMs: connect.connectTimeoutMs,
      hostPolicy: connect.hostPolicy,
      statementTimeoutMs: 60_000,
      lockTimeoutMs: 5_000,
      idleTimeoutSeconds: 0,
      applicationName: 'pganalytics-backup',
    },
  )
  try {
    const [row] = await sql<
      { version: string; segment: string; size: string; now: Date; system: string | null }[]
    >`
      select current_setting('server_version_num') as version,
             (select setting from pg_settings where name = 'wal_segment_size') as segment,
             ${database ? sql`pg_database_size(current_database())` : sql`(select sum(pg_database_size(oid)) from pg_database)`}::text as size,
             now() as now,
             (select system_identifier::text from pg_control_system()) as system`
    if (!row) throw new Error('the server returned nothing')
    return {
      pgVersion: Math.floor(Number(row.version) / 10000),
      systemIdentifier: row.system,
      walSegmentSize: Number(row.segment),
      sizeBytes: Number(row.size),
      now: row.now.toISOString(),
    }
  } finally {
    await sql.end({ timeout: 5 })
  }
}

/** The chunks a new backup may reference instead of storing, and the owners they belong to. */
function reusable(parent: BackupManifest | null): { owners: string[]; known: Map<string, number> } {
  const owners = ['']
  const known = new Map<string, number>()
  if (!parent) return { owners, known }
  const index = new Map<string, number>()
  for (const file of parent.files)
    for (const [owner, id] of file.chunks ?? []) {
      const backup = parent.owners[owner] as string
      let mine = index.get(backup)
      if (mine === undefined) {
        mine = owners.length
        owners.push(backup)
        index.set(backup, mine)
      }
      known.set(id, mine)
    }
  return { owners, known }
}

export type BackupRequest = {
  repository: BackupRepository
  backupId: string
  type: BackupType
  /** Incremental: the previous backup of the chain; differential: the full; else null. */
  parent: BackupManifest | null
  instance: { id: string; name: string }
  target: ConnectionTarget
  database?: string | undefined
  binDir?: string | undefined
  compression: Compression
  level?: number | undefined
  chunkSize: number
  concurrency: number
  /** Threads for chunk ids, compression and sealing (chunk-pool.ts); default: defaultChunkThreads(). */
  threads?: number | undefined
  connectTimeoutMs: number
  hostPolicy: HostPolicy
  /** Physical backups: read the data directory when it is here and readable (auto), or force. */
  copyMethod?: CopyMethodSetting | undefined
  signal?: AbortSignal | undefined
  onProgress?: (progress: { bytesDone: number; bytesTotal: number }) => void
}

/** Local when the data directory can be read here (auto) or when forced (then failing if it
 * cannot); else the pg_basebackup stream, with the reason local was not used. */
async function chooseCopyMethod(
  request: BackupRequest,
): Promise<{ method: CopyMethod; note?: string; local?: { dataDirectory: string; pgVersion: number } }> {
  const setting = request.copyMethod ?? 'auto'
  if (setting === 'stream') return { method: 'stream', note: 'PGA_BACKUP_COPY_METHOD=stream' }
  const sql = openInstanceConnection(request.target, {
    connectTimeoutMs: request.connectTimeoutMs,
    hostPolicy: request.hostPolicy,
    statementTimeoutMs: 60_000,
    lockTimeoutMs: 5_000,
    idleTimeoutSeconds: 0,
    applicationName: 'pganalytics-backup',
  })
  const probe = await probeLocalCopy(sql).finally(() => sql.end({ timeout: 5 }))
  if (probe.ok) return { method: 'local', local: probe }
  if (setting === 'local') throw new LocalCopyUnavailableError(probe.reason)
  return { method: 'stream', note: `local copy not possible: ${probe.reason}` }
}

export class LocalCopyUnavailableError extends Error {
  constructor(reason: string) {
    super(`PGA_BACKUP_COPY_METHOD=local, but ${reason}`)
    this.name = 'LocalCopyUnavailableError'
  }
}

export async function takeBackup(
  request: BackupRequest,
): Promise<{ manifest: BackupManifest; sha256: string }> {
  const startedAt = new Date().toISOString()
  const logical = request.type === 'logical'
  const facts = await serverFacts(request.target, request, logical ? request.database : undefined)
  const key = await request.repository.newBackupKey(request.backupId)
  const { owners, known } = reusable(logical ? null : request.parent)
  owners[0] = request.backupId
  const writer = new ChunkWriter(request.repository, key, {
    compression: request.compression,
    level: request.level,
    concurrency: request.concurrency,
    threads: request.threads ?? defaultChunkThreads(),
    known,
    signal: request.signal,
  })
  const onProgress = (bytesDone: number) => request.onProgress?.({ bytesDone, bytesTotal: facts.sizeBytes })
  const connection = await libpqConnection(request.target, {
    applicationName: 'pganalytics-backup',
    connectTimeoutMs: request.connectTimeoutMs,
    hostPolicy: request.hostPolicy,
    ...(logical ? { database: request.database } : {}),
  }).catch(async (error) => {
    await writer.close()
    throw error
  })
  let files: ManifestFile[]
  let copy: { timeline: number; startLsn: string | null; endLsn: string | null }
  let how: { method: CopyMethod; note?: string } | undefined
  try {
    if (logical) {
      const pgDump = await findPgTool('pg_dump', facts.pgVersion, { binDir: request.binDir })
      files = [
        await copyLogical({
          pgDump,
          connection,
          writer,
          chunkSize: request.chunkSize,
          signal: request.signal,
          onProgress,
          database: request.database as string,
        }),
      ]
      copy = { timeline: 0, startLsn: null, endLsn: null }
    } else {
      const choice = await chooseCopyMethod(request)
      how = choice.note ? { method: choice.method, note: choice.note } : { method: choice.method }
      const label = `pganalytics ${request.backupId}`
      const physical = choice.local
        ? await copyLocal({
            target: request.target,
            connectTimeoutMs: request.connectTimeoutMs,
            hostPolicy: request.hostPolicy,
            dataDirectory: choice.local.dataDirectory,
            pgVersion: choice.local.pgVersion,
            walSegmentSize: facts.walSegmentSize,
            label,
            writer,
            chunkSize: request.chunkSize,
            signal: request.signal,
            onProgress,
          })
        : await copyPhysical({
            pgBasebackup: await findPgTool('pg_basebackup', facts.pgVersion, { binDir: request.binDir }),
            connection,
            label,
            writer,
            chunkSize: request.chunkSize,
            signal: request.signal,
            onProgress,
          })
      files = physical.files
      copy = physical
    }
  } finally {
    connection.dispose()
    await writer.close()
  }
  const finished = await serverFacts(request.target, request, logical ? request.database : undefined)
  const manifest: BackupManifest = {
    format: 1,
    backupId: request.backupId,
    instance: { ...request.instance, systemIdentifier: facts.systemIdentifier },
    type: request.type,
    parentBackupId: request.parent?.backupId ?? null,
    chainId: request.type === 'full' || logical ? request.backupId : (request.parent?.chainId as string),
    owners,
    compression: request.compression,
    chunkSize: request.chunkSize,
    pgVersion: facts.pgVersion,
    walSegmentSize: facts.walSegmentSize,
    timeline: copy.timeline,
    startLsn: copy.startLsn,
    endLsn: copy.endLsn,
    consistentAt: finished.now,
    startedAt,
    ...(logical ? { database: request.database as string } : {}),
    ...(how ? { copy: how } : {}),
    files,
    fileCount: files.length,
    stats: { ...writer.stats },
  }
  const sha256 = await request.repository.putManifest(
    manifest,
    key,
    request.compression === 'none' ? 'none' : 'gzip',
  )
  return { manifest, sha256 }
}
