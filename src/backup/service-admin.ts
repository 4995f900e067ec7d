// Service verbs around the backups themselves: schedules, repositories, and what an instance can
// be recovered to (its recovery status). Changes are audited in their transaction.
import { recordAuditEvent } from '../audit/events.ts'
import { ConflictError, NotFoundError } from '../http/errors.ts'
import type { Keyring } from '../keys/keyring.ts'
import { openBlobStore } from '../platform/blob/open.ts'
import { withTransaction } from '../platform/db/database.ts'
import type { Compression } from './compression.ts'
import type { BackupType } from './manifest.ts'
import * as repo from './repo.ts'
import * as ops from './repo-ops.ts'
import { blobConfigOf, credentialsField, type RepositoryCredentials } from './repositories.ts'
import { checkCron, nextRun } from './schedules.ts'
import { type BackupContext, requireDatabaseOfLogical } from './service.ts'

async function audited(
  ctx: BackupContext,
  tx: Parameters<typeof recordAuditEvent>[0],
  eventType: string,
  resourceType: string,
  resourceId: string,
  action: 'create' | 'update' | 'delete',
  values: { oldValues?: unknown; newValues?: unknown },
) {
  await recordAuditEvent(tx, ctx.audit, {
    eventType,
    resourceType,
    resourceId,
    action,
    oldValues: (values.oldValues ?? null) as Record<string, unknown> | null,
    newValues: (values.newValues ?? null) as Record<string, unknown> | null,
  })
}

export type ScheduleInput = {
  name: string
  instanceId: string
  repository?: string | undefined
  backupType: BackupType
  database?: string | undefined
  cronExpression: string
  timeZone: string
  compression?: Compression | undefined
  enabled: boolean
  missedRunPolicy: 'run_once' | 'skip'
  retentionFullCount?: number | undefined
  retentionDays?: number | undefined
}

async function scheduleFields(ctx: BackupContext, input: ScheduleInput): Promise<ops.ScheduleFields> {
  checkCron(input.cronExpression, input.timeZone)
  requireDatabaseOfLogical(input.backupType, input.database)
  const repositoryRow = input.repository ? await ctx.repositories.resolve(input.repository) : null
  if (input.repository && !repositoryRow)
    throw new NotFoundError(`Repository ${input.repository} does not exist.`, 'repository_not_found')
  return {
    name: input.name,
    instanceId: input.instanceId,
    repositoryId: repositoryRow?.id ?? null,
    backupType: input.backupType,
    databaseName: input.database ?? null,
    cronExpression: input.cronExpression,
    timeZone: input.timeZone,
    compression: input.compression ?? null,
    enabled: input.enabled,
    missedRunPolicy: input.missedRunPolicy,
    retentionFullCount: input.retentionFullCount ?? null,
    retentionDays: input.retentionDays ?? null,
    nextRunAt: input.enabled ? nextRun(input.cronExpression, input.timeZone, new Date()) : null,
  }
}

const nameTaken = (error: unknown, name: string): never => {
  if ((error as { code?: string }).code === '23505')
    throw new ConflictError('name_taken', `${name} is taken.`)
  if ((error as { code?: string }).code === '23503') throw new NotFoundError('The instance does not exist.')
  throw error
}

export async function createSchedule(ctx: BackupContext, input: ScheduleInput) {
  const fields = await scheduleFields(ctx, input)
  const id = crypto.randomUUID()
  return withTransaction(ctx.db, async (tx) => {
    const row = await ops.insertSchedule(tx, id, fields)
    await audited(ctx, tx, 'backup.schedule_created', 'backup_schedule', id, 'create', { newValues: row })
    return row
  }).catch((error) => nameTaken(error, input.name))
}

export async function updateSchedule(ctx: BackupContext, id: string, input: ScheduleInput) {
  const before = await ops.findSchedule(ctx.db, id)
  if (!before) throw new NotFoundError(`Schedule ${id} does not exist.`)
  const fields = await scheduleFields(ctx, input)
  return withTransaction(ctx.db, async (tx) => {
    const row = (await ops.updateSchedule(tx, id, fields)) as ops.ScheduleRow
    await audited(ctx, tx, 'backup.schedule_updated', 'backup_schedule', id, 'update', {
      oldValues: before,
      newValues: row,
    })
    return row
  }).catch((error) => nameTaken(error, input.name))
}

export async function deleteSchedule(ctx: BackupContext, id: string) {
  await withTransaction(ctx.db, async (tx) => {
    const before = await ops.findSchedule(tx, id)
    if (!before || !(await ops.deleteSchedule(tx, id)))
      throw new NotFoundError(`Schedule ${id} does not exist.`)
    await audited(ctx, tx, 'backup.schedule_deleted', 'backup_schedule', id, 'delete', { oldValues: before })
  })
}

export type RepositoryInput = {
  name: string
  url: string
  settings: {
    endpoint?: string | undefined
    region?: string | undefined
    forcePathStyle?: boolean | undefined
  }
  credentials?: RepositoryCredentials | undefined
  isDefault: boolean
}

/** Adds a repository after opening it (a wrong URL or credential fails here, not at 2 a.m.). */
export async function createRepository(ctx: BackupContext, keyring: Keyring, input: RepositoryInput) {
  const id = crypto.randomUUID()
  const settings = Object.fromEntries(
    Object.entries(input.settings).filter(([, v]) => v !== undefined),
  ) as Record<string, string | boolean>
  const probe = {
    id,
    name: input.name,
    url: input.url,
    settings,
    credentialsEnc: null,
    isDefault: false,
    fromEnvironment: false,
    createdAt: new Date(),
  }
  const store = openBlobStore(blobConfigOf(probe, input.credentials ?? {}))
  await store.list('repository.json').catch((error: Error) => {
    throw new ConflictError('repository_unreachable', `The repository could not be listed: ${error.message}`)
  })
  const credentialsEnc = input.credentials
    ? await keyring.encrypt(JSON.stringify(input.credentials), credentialsField(id))
    : null
  return withTransaction(ctx.db, async (tx) => {
    const row = await repo.insertRepository(tx, {
      id,
      name: input.name,
      url: input.url,
      settings,
      credentialsEnc,
      isDefault: false,
    })
    if (input.isDefault) await repo.setDefaultRepository(tx, id)
    await audited(ctx, tx, 'backup.repository_created', 'backup_repository', id, 'create', {
      newValues: {
        name: row.name,
        url: row.url,
        settings,
        isDefault: input.isDefault,
        hasCredentials: credentialsEnc !== null,
      },
    })
    return { ...row, isDefault: input.isDefault }
  }).catch((error) => nameTaken(error, input.name))
}

export async function deleteRepository(ctx: BackupContext, id: string) {
  await withTransaction(ctx.db, async (tx) => {
    const row = await repo.findRepository(tx, id)
    if (!row) throw new NotFoundError(`Repository ${id} does not exist.`)
    if (row.fromEnvironment)
      throw new ConflictError(
        'repository_managed_by_environment',
        'The default repository comes from PGA_BACKUP_REPOSITORY.',
      )
    const [used] = await tx<
      { n: number }[]
    >`select count(*)::int as n from backup_metadata where repository_id = ${id}`
    if ((used?.n ?? 0) > 0)
      throw new ConflictError('repository_in_use', 'Backups are recorded in this repository.')
    await repo.deleteRepository(tx, id)
    await audited(ctx, tx, 'backup.repository_deleted', 'backup_repository', id, 'delete', {
      oldValues: { name: row.name, url: row.url },
    })
  })
  ctx.repositories.forget(id)
}

/** What an instance can be recovered to, and how fresh the newest restorable point is. */
export async function recoveryStatus(ctx: BackupContext, instanceId: string) {
  const [exists] = await ctx.db<{ id: string }[]>`select id from pga_instances where id = ${instanceId}`
  if (!exists) throw new NotFoundError(`Instance ${instanceId} does not exist.`)
  const backups = await repo.completedPhysical(ctx.db, instanceId)
  const latest = backups.at(-1) ?? null
  const stream = await ops.findWalStream(ctx.db, instanceId)
  const streaming = Boolean(stream?.storedAt && latest && stream.repositoryId === latest.repositoryId)
  const latestTime = streaming ? (stream?.storedAt as Date) : (latest?.consistentAt ?? null)
  return {
    instanceId,
    latestBackupId: latest?.id ?? null,
    backups: backups.length,
    walContinuous: streaming && !stream?.lastError,
    walStreaming: streaming,
    walError: stream?.lastError ?? null,
    storedLsn: stream?.storedLsn ?? null,
    rpoSeconds: latestTime ? Math.max(0, Math.round((Date.now() - latestTime.getTime()) / 1000)) : null,
    earliestRestorableTime: streaming
      ? (backups[0]?.consistentAt?.toISOString() ?? null)
      : (latest?.consistentAt?.toISOString() ?? null),
    latestRestorableTime: latestTime?.toISOString() ?? null,
  }
}
