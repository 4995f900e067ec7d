// SQL of backups: repositories, backup records, restore operations, schedules, the execution
// log and the state of continuous WAL. Nothing else touches these tables.
import type { Db } from '../platform/db/database.ts'
import type { Compression } from './compression.ts'
import type { BackupType } from './manifest.ts'

export type RunStatus = 'pending' | 'running' | 'completed' | 'failed' | 'cancelled'

export type RepositoryRow = {
  id: string
  name: string
  url: string
  settings: Record<string, string | boolean>
  credentialsEnc: string | null
  isDefault: boolean
  fromEnvironment: boolean
  createdAt: Date
}

export type BackupRow = {
  id: string
  /** Null once the instance was deleted. */
  instanceId: string | null
  instanceName: string
  repositoryId: string
  backupType: BackupType
  status: RunStatus
  parentBackupId: string | null
  chainId: string | null
  databaseName: string | null
  compression: Compression
  pgVersion: number | null
  /** The cluster's system identifier (physical backups): where its WAL lives in the repository. */
  systemIdentifier: string | null
  timeline: number | null
  startLsn: string | null
  endLsn: string | null
  consistentAt: Date | null
  startedAt: Date | null
  finishedAt: Date | null
  sourceSizeBytes: string | null
  storedSizeBytes: string | null
  fileCount: number | null
  chunkCount: number | null
  newChunkCount: number | null
  manifestSha256: string | null
  verifiedAt: Date | null
  verifyResult: unknown
  progress: {
    bytesDone: number
    bytesTotal: number
    ratePerSecond?: number
    etaSeconds?: number | null
  } | null
  error: string | null
  runner: string | null
  cancelRequested: boolean
  requestedBy: string | null
  scheduleId: string | null
  deletedAt: Date | null
  createdAt: Date
}

const backupColumns = (db: Db) => db`
  id, instance_id as "instanceId", instance_name as "instanceName", repository_id as "repositoryId", backup_type as "backupType", status,
  parent_backup_id as "parentBackupId", chain_id as "chainId", database_name as "databaseName", compression,
  pg_version as "pgVersion", system_identifier as "systemIdentifier", timeline, start_lsn::text as "startLsn", end_lsn::text as "endLsn",
  consistent_at as "consistentAt", started_at as "startedAt", finished_at as "finishedAt",
  source_size_bytes::text as "sourceSizeBytes", stored_size_bytes::text as "storedSizeBytes", file_count as "fileCount",
  chunk_count as "chunkCount", new_chunk_count as "newChunkCount", manifest_sha256 as "manifestSha256",
  verified_at as "verifiedAt", verify_result as "verifyResult", progress, error, runner,
  cancel_requested as "cancelRequested", requested_by as "requestedBy", schedule_id as "scheduleId",
  deleted_at as "deletedAt", created_at as "createdAt"`

const repositoryColumns = (db: Db) => db`
  id, name, url, settings, credentials_enc as "credentialsEnc", is_default as "isDefault",
  from_environment as "fromEnvironment", created_at as "createdAt"`

// A constant shared by all replicas for pg_advisory_xact_lock: "pgarepo" in hex.
const environmentRepositoryLockKey = '31638865620332655'

/** Serializes the registration of the environment's repository between replicas starting. */
export async function lockEnvironmentRepository(tx: Db) {
  await tx`select pg_advisory_xact_lock(${environmentRepositoryLockKey}::bigint)`
}

/** A record of an earlier PGA_BACKUP_REPOSITORY at `url`, other than `default`. */
export async function earlierEnvironmentRepository(db: Db, url: string): Promise<RepositoryRow | null> {
  const [row] = await db<RepositoryRow[]>`
    select ${repositoryColumns(db)} from backup_repositories
    where from_environment and url = ${url} and name <> 'default' order by created_at desc limit 1`
  return row ?? null
}

export async function insertEnvironmentRepository(
  db: Db,
  row: { id: string; url: string; isDefault: boolean },
): Promise<RepositoryRow> {
  const [saved] = await db<RepositoryRow[]>`
    insert into backup_repositories (id, name, url, is_default, from_environment)
    values (${row.id}, 'default', ${row.url}, ${row.isDefault}, true)
    returning ${repositoryColumns(db)}`
  return saved as RepositoryRow
}

export async function setRepositoryUrl(db: Db, id: string, url: string): Promise<RepositoryRow> {
  const [saved] = await db<RepositoryRow[]>`
    update backup_repositories set url = ${url}, updated_at = now() where id = ${id}
    returning ${repositoryColumns(db)}`
  return saved as RepositoryRow
}

export async function renameRepository(
  db: Db,
  id: string,
  name: string,
  isDefault: boolean,
): Promise<RepositoryRow> {
  const [saved] = await db<RepositoryRow[]>`
    update backup_repositories set name = ${name}, is_default = ${isDefault}, updated_at = now()
    where id = ${id} returning ${repositoryColumns(db)}`
  return saved as RepositoryRow
}

/** Whether any backup (of any status) is recorded in the repository. */
export async function hasBackups(db: Db, repositoryId: string): Promise<boolean> {
  const rows = await db`select 1 from backup_metadata where repository_id = ${repositoryId} limit 1`
  return rows.length > 0
}

export async function insertRepository(db: Db, row: Omit<RepositoryRow, 'createdAt' | 'fromEnvironment'>) {
  const [saved] = await db<RepositoryRow[]>`
    insert into backup_repositories (id, name, url, settings, credentials_enc, is_default)
    values (${row.id}, ${row.name}, ${row.url}, ${db.json(row.settings)}, ${row.credentialsEnc}, ${row.isDefault})
    returning ${repositoryColumns(db)}`
  return saved as RepositoryRow
}

export const listRepositories = (db: Db) =>
  db<RepositoryRow[]>`select ${repositoryColumns(db)} from backup_repositories order by name`

export async function findRepository(db: Db, idOrName: string): Promise<RepositoryRow | null> {
  const byId = /^[0-9a-f-]{36}$/.test(idOrName)
  const [row] = await db<RepositoryRow[]>`
    select ${repositoryColumns(db)} from backup_repositories where ${byId ? db`id = ${idOrName}` : db`name = ${idOrName}`}`
  return row ?? null
}

export async function defaultRepository(db: Db): Promise<RepositoryRow | null> {
  const [row] = await db<
    RepositoryRow[]
  >`select ${repositoryColumns(db)} from backup_repositories where is_default`
  return row ?? null
}

export async function setDefaultRepository(db: Db, id: string) {
  await db`update backup_repositories set is_default = false where is_default and id <> ${id}`
  await db`update backup_repositories set is_default = true, updated_at = now() where id = ${id}`
}

export async function deleteRepository(db: Db, id: string): Promise<boolean> {
  return (await db`delete from backup_repositories where id = ${id} and not from_environment`).count > 0
}

export async function insertBackup(
  db: Db,
  row: Pick<
    BackupRow,
    | 'id'
    | 'instanceId'
    | 'instanceName'
    | 'repositoryId'
    | 'backupType'
    | 'parentBackupId'
    | 'chainId'
    | 'databaseName'
    | 'compression'
    | 'requestedBy'
    | 'scheduleId'
  >,
): Promise<BackupRow> {
  const [saved] = await db<BackupRow[]>`
    insert into backup_metadata (id, instance_id, instance_name, repository_id, backup_type, status, parent_backup_id,
                                 chain_id, database_name, compression, requested_by, schedule_id)
    values (${row.id}, ${row.instanceId}, ${row.instanceName}, ${row.repositoryId}, ${row.backupType}, 'pending', ${row.parentBackupId},
            ${row.chainId}, ${row.databaseName}, ${row.compression}, ${row.requestedBy}, ${row.scheduleId})
    returning ${backupColumns(db)}`
  return saved as BackupRow
}

export async function findBackup(db: Db, id: string): Promise<BackupRow | null> {
  const [row] = await db<BackupRow[]>`select ${backupColumns(db)} from backup_metadata where id = ${id}`
  return row ?? null
}

export type BackupFilter = {
  instanceId?: string | undefined
  type?: BackupType | undefined
  status?: RunStatus | undefined
  /** Created before this backup (keyset pagination, newest first). */
  before?: { createdAt: Date; id: string } | undefined
  limit: number
}

export async function listBackups(db: Db, filter: BackupFilter): Promise<BackupRow[]> {
  return db<BackupRow[]>`
    select ${backupColumns(db)} from backup_metadata
    where true
      ${filter.instanceId ? db`and instance_id = ${filter.instanceId}` : db``}
      ${filter.type ? db`and backup_type = ${filter.type}` : db``}
      ${filter.status ? db`and status = ${filter.status}` : db``}
      ${filter.before ? db`and (created_at, id) < (${filter.before.createdAt}, ${filter.before.id})` : db``}
    order by created_at desc, id desc
    limit ${filter.limit}`
}

/** The newest completed backup of these types for an instance in a repository. */
export async function latestCompleted(
  db: Db,
  instanceId: string,
  repositoryId: string,
  types: BackupType[],
): Promise<BackupRow | null> {
  const [row] = await db<BackupRow[]>`
    select ${backupColumns(db)} from backup_metadata
    where instance_id = ${instanceId} and repository_id = ${repositoryId} and status = 'completed'
      and deleted_at is null and backup_type = any(${types})
    order by finished_at desc limit 1`
  return row ?? null
}

/** Completed physical backups of an instance, oldest first. */
export const completedPhysical = (db: Db, instanceId: string) => db<BackupRow[]>`
  select ${backupColumns(db)} from backup_metadata
  where instance_id = ${instanceId} and status = 'completed' and deleted_at is null and backup_type <> 'logical'
  order by finished_at`

/** A physical backup running (or about to) for the instance, other than `except`. */
export async function activePhysical(db: Db, instanceId: string, except: string): Promise<BackupRow | null> {
  const [row] = await db<BackupRow[]>`
    select ${backupColumns(db)} from backup_metadata
    where instance_id = ${instanceId} and status in ('pending', 'running') and backup_type <> 'logical' and id <> ${except}
    limit 1`
  return row ?? null
}

export const unfinishedBackups = (db: Db) =>
  db<
    BackupRow[]
  >`select ${backupColumns(db)} from backup_metadata where status in ('pending', 'running') order by created_at`

export async function markBackupRunning(db: Db, id: string, runner: string): Promise<boolean> {
  const rows = await db`
    update backup_metadata set status = 'running', runner = ${runner}, started_at = coalesce(started_at, now()), updated_at = now()
    where id = ${id} and status = 'pending' returning 1`
  return rows.length > 0
}

export async function recordProgress(db: Db, id: string, progress: BackupRow['progress']) {
  await db`update backup_metadata set progress = ${db.json(progress as never)}, updated_at = now() where id = ${id} and status = 'running'`
}

export async function completeBackup(
  db: Db,
  id: string,
  done: {
    pgVersion: number
    systemIdentifier: string | null
    timeline: number | null
    startLsn: string | null
    endLsn: string | null
    consistentAt: string
    sourceSizeBytes: number
    storedSizeBytes: number
    fileCount: number
    chunkCount: number
    newChunkCount: number
    manifestSha256: string
  },
) {
  await db`
    update backup_metadata set status = 'completed', finished_at = now(), updated_at = now(),
      pg_version = ${done.pgVersion}, system_identifier = ${done.systemIdentifier}, timeline = ${done.timeline},
      start_lsn = ${done.startLsn}::pg_lsn, end_lsn = ${done.endLsn}::pg_lsn, consistent_at = ${done.consistentAt},
      source_size_bytes = ${done.sourceSizeBytes}, stored_size_bytes = ${done.storedSizeBytes},
      file_count = ${done.fileCount}, chunk_count = ${done.chunkCount}, new_chunk_count = ${done.newChunkCount},
      manifest_sha256 = ${done.manifestSha256}, progress = null
    where id = ${id}`
}

export async function finishBackup(db: Db, id: string, status: 'failed' | 'cancelled', error: string | null) {
  await db`
    update backup_metadata set status = ${status}, error = ${error}, finished_at = now(), updated_at = now()
    where id = ${id} and status in ('pending', 'running')`
}

export async function requestCancel(db: Db, id: string): Promise<boolean> {
  return (
    (
      await db`update backup_metadata set cancel_requested = true, updated_at = now()
             where id = ${id} and status in ('pending', 'running') returning 1`
    ).length > 0
  )
}

export async function recordVerification(db: Db, id: string, result: unknown) {
  await db`update backup_metadata set verified_at = now(), verify_result = ${db.json(result as never)}, updated_at = now() where id = ${id}`
}

/** Backups whose chain includes `id` (later incrementals and differentials). */
export const dependents = (db: Db, id: string) =>
  db<{ id: string }[]>`select id from backup_metadata where parent_backup_id = ${id}`

/** Completed, not deleted backups of an instance in a repository, newest first. */
export const keptBackups = (db: Db, instanceId: string, repositoryId: string) => db<BackupRow[]>`
  select ${backupColumns(db)} from backup_metadata
  where instance_id = ${instanceId} and repository_id = ${repositoryId} and status = 'completed' and deleted_at is null
  order by finished_at desc`

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** What the store records of these backup ids: `gone` (deleted, failed or cancelled: its objects
 * may go) or `live`. Ids without a record are absent from the map. */
export async function recordedStates(db: Db, ids: string[]): Promise<Map<string, 'live' | 'gone'>> {
  const rows = await db<{ id: string; gone: boolean }[]>`
    select id, (deleted_at is not null or status in ('failed', 'cancelled')) as gone
    from backup_metadata where id = any(${ids.filter((id) => uuid.test(id))}::uuid[])`
  return new Map(rows.map((row) => [row.id, row.gone ? 'gone' : 'live']))
}

/** Locks backup rows (in id order) until the transaction ends: a restore recorded meanwhile
 * (lockRestorable) is then seen by the next statement. */
export async function lockBackups(tx: Db, ids: string[]) {
  await tx`select id from backup_metadata where id = any(${ids}::uuid[]) order by id for update`
}

/** Marks backups deleted, except those a pending or running restore uses: the backup itself or,
 * for a physical one, any backup of its chain. Returns the ids marked. */
export async function markDeletedUnlessRestoring(tx: Db, ids: string[]): Promise<string[]> {
  const rows = await tx<{ id: string }[]>`
    update backup_metadata b set deleted_at = now(), updated_at = now()
    where b.id = any(${ids}::uuid[]) and b.deleted_at is null
      and not exists (
        select 1 from restore_operations r join backup_metadata used on used.id = r.backup_id
        where r.status in ('pending', 'running')
          and (used.id = b.id or (b.backup_type <> 'logical' and used.chain_id = b.chain_id)))
    returning b.id`
  return rows.map((row) => row.id)
}

/** Locks a backup that may be restored (completed, not deleted) until the transaction ends, so
 * retention cannot mark it deleted before the restore is recorded; false when it may not be. */
export async function lockRestorable(tx: Db, id: string): Promise<boolean> {
  const rows = await tx`
    select 1 from backup_metadata where id = ${id} and status = 'completed' and deleted_at is null
    for key share`
  return rows.length > 0
}
