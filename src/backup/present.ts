// How backup records look in the API: dates as ISO strings, byte counts as numbers, no
// credentials, and the keyset cursor of the backup list.
import { BadRequestError } from '../http/errors.ts'
import type { BackupRow, RepositoryRow } from './repo.ts'
import type { RestoreRow, ScheduleRow } from './repo-ops.ts'

const iso = (date: Date | null) => date?.toISOString() ?? null
const num = (text: string | null) => (text === null ? null : Number(text))

export function presentBackup(row: BackupRow) {
  return {
    id: row.id,
    instanceId: row.instanceId,
    instanceName: row.instanceName,
    repositoryId: row.repositoryId,
    type: row.backupType,
    status: row.status,
    parentBackupId: row.parentBackupId,
    chainId: row.chainId,
    database: row.databaseName,
    compression: row.compression,
    pgVersion: row.pgVersion,
    timeline: row.timeline,
    startLsn: row.startLsn,
    endLsn: row.endLsn,
    consistentAt: iso(row.consistentAt),
    startedAt: iso(row.startedAt),
    finishedAt: iso(row.finishedAt),
    sourceSizeBytes: num(row.sourceSizeBytes),
    storedSizeBytes: num(row.storedSizeBytes),
    fileCount: row.fileCount,
    chunkCount: row.chunkCount,
    newChunkCount: row.newChunkCount,
    manifestSha256: row.manifestSha256,
    verifiedAt: iso(row.verifiedAt),
    verifyResult: row.verifyResult ?? null,
    progress: row.progress,
    error: row.error,
    cancelRequested: row.cancelRequested,
    requestedBy: row.requestedBy,
    scheduleId: row.scheduleId,
    deletedAt: iso(row.deletedAt),
    createdAt: row.createdAt.toISOString(),
  }
}

export function presentRestore(row: RestoreRow) {
  return {
    id: row.id,
    backupId: row.backupId,
    mode: row.mode,
    status: row.status,
    target: row.target,
    targetDirectory: row.targetDirectory,
    targetDatabase: row.targetDatabase,
    achievedTarget: row.achievedTarget ?? null,
    rtoMs: num(row.rtoMs),
    walSegments: row.walSegments,
    walBytes: num(row.walBytes),
    restoredSizeBytes: num(row.restoredSizeBytes),
    checks: row.checks ?? null,
    error: row.error,
    requestedBy: row.requestedBy,
    startedAt: iso(row.startedAt),
    finishedAt: iso(row.finishedAt),
    createdAt: row.createdAt.toISOString(),
  }
}

export function presentSchedule(row: ScheduleRow) {
  const { databaseName, nextRunAt, lastRunAt, createdAt, updatedAt, ...rest } = row
  return {
    ...rest,
    database: databaseName,
    nextRunAt: iso(nextRunAt),
    lastRunAt: iso(lastRunAt),
    createdAt: createdAt.toISOString(),
    updatedAt: updatedAt.toISOString(),
  }
}

export function presentRepository(row: RepositoryRow) {
  return {
    id: row.id,
    name: row.name,
    url: row.url,
    settings: row.settings,
    hasCredentials: row.credentialsEnc !== null,
    isDefault: row.isDefault,
    fromEnvironment: row.fromEnvironment,
    createdAt: row.createdAt.toISOString(),
  }
}

export const encodeCursor = (row: BackupRow) =>
  Buffer.from(`${row.createdAt.toISOString()}|${row.id}`).toString('base64url')

export function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  const [at = '', id = ''] = Buffer.from(cursor, 'base64url').toString().split('|')
  const createdAt = new Date(at)
  if (Number.isNaN(createdAt.getTime()) || !/^[0-9a-f-]{36}$/.test(id))
    throw new BadRequestError('invalid_cursor', 'The cursor is not one this API returned.', [
      { path: 'query.cursor', message: 'nextCursor of a previous page' },
    ])
  return { createdAt, id }
}
