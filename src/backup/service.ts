// Service verbs for backups and restores: list, read, trigger, cancel, verify, restore, and the
// recovery status of an instance. Each change writes its record and its audit event in one
// transaction; the work itself runs in the background (runner.ts), any replica finishing it.
import { access, readdir } from 'node:fs/promises'
import { isAbsolute } from 'node:path'
import { type AuditContext, recordAuditEvent } from '../audit/events.ts'
import { BadRequestError, ConflictError, NotFoundError, ServiceError } from '../http/errors.ts'
import type { Db } from '../platform/db/database.ts'
import { withTransaction } from '../platform/db/database.ts'
import { type Compression, compressionAvailable } from './compression.ts'
import type { BackupType } from './manifest.ts'
import { parseLsn } from './manifest.ts'
import { findPgTool, PgToolMissingError } from './pg-tools.ts'
import { checkTarget, type RecoveryTarget, RestoreTargetUnreachableError, walEnd } from './recovery.ts'
import * as repo from './repo.ts'
import * as ops from './repo-ops.ts'
import type { RepositoryRegistry } from './repositories.ts'
import { BackupKeyMismatchError } from './repository.ts'
import type { BackupRunner } from './runner.ts'

export type BackupContext = {
  db: Db
  audit: AuditContext
  repositories: RepositoryRegistry
  runner: BackupRunner
  defaultCompression: Compression
  binDir?: string | undefined
}

const fail = (code: string, status: number, title: string, detail: string) =>
  new ServiceError(code, status, title, detail)

async function audited(
  ctx: BackupContext,
  tx: Db,
  eventType: string,
  resourceId: string,
  changes: Record<string, unknown>,
) {
  await recordAuditEvent(tx, ctx.audit, {
    eventType,
    resourceType: 'backup',
    resourceId,
    action: 'execute',
    changes,
  })
}

export async function getBackupRow(ctx: Pick<BackupContext, 'db'>, id: string): Promise<repo.BackupRow> {
  const row = await repo.findBackup(ctx.db, id)
  if (!row) throw new NotFoundError(`Backup ${id} does not exist.`)
  return row
}

export type TriggerInput = {
  instanceId: string
  type: BackupType
  compression?: Compression | undefined
  repository?: string | undefined
  database?: string | undefined
}

/** Records a backup as pending and starts it; an incremental or differential with no full
 * backup before it in that repository is taken as a full one (`promoted`). */
export async function triggerBackup(
  ctx: BackupContext,
  input: TriggerInput,
  options: { scheduleId?: string } = {},
) {
  const compression = input.compression ?? ctx.defaultCompression
  if (!compressionAvailable(compression))
    throw new BadRequestError(
      'compression_unavailable',
      `${compression} is not available in this runtime; use gzip or the binary`,
    )
  requireDatabaseOfLogical(input.type, input.database)
  const [instance] = await ctx.db<{ isSelf: boolean; host: string; name: string }[]>`
    select is_self as "isSelf", host, name from pga_instances where id = ${input.instanceId}`
  if (!instance) throw new NotFoundError(`Instance ${input.instanceId} does not exist.`)
  if (instance.isSelf && instance.host === 'embedded')
    throw fail(
      'backup_not_supported',
      422,
      'Backup not supported',
      'The embedded store (PGlite) has no replication protocol to back it up through.',
    )
  const repositoryRow = await ctx.repositories.resolve(input.repository)
  if (!repositoryRow)
    throw new NotFoundError(
      `Repository ${input.repository ?? '(default)'} does not exist.`,
      'repository_not_found',
    )

  let type = input.type
  let parent: repo.BackupRow | null = null
  if (type === 'incremental' || type === 'differential') {
    parent = await repo.latestCompleted(
      ctx.db,
      input.instanceId,
      repositoryRow.id,
      type === 'incremental' ? ['full', 'incremental', 'differential'] : ['full'],
    )
    if (!parent) type = 'full'
  }
  const id = crypto.randomUUID()
  const row = await withTransaction(ctx.db, async (tx) => {
    if (type !== 'logical') {
      await tx`select pg_advisory_xact_lock(hashtext(${`backup:${input.instanceId}`}))`
      const active = await repo.activePhysical(tx, input.instanceId, id)
      if (active)
        throw new ConflictError(
          'backup_in_progress',
          `Backup ${active.id} of this instance is ${active.status}; one physical backup at a time.`,
        )
    }
    const inserted = await repo.insertBackup(tx, {
      id,
      instanceId: input.instanceId,
      instanceName: instance.name,
      repositoryId: repositoryRow.id,
      backupType: type,
      parentBackupId: parent?.id ?? null,
      chainId: type === 'full' || type === 'logical' ? id : (parent?.chainId ?? null),
      databaseName: input.database ?? null,
      compression,
      requestedBy: ctx.audit.actor.id ?? ctx.audit.actor.type,
      scheduleId: options.scheduleId ?? null,
    })
    await audited(ctx, tx, 'backup.requested', id, {
      instanceId: input.instanceId,
      type,
      requestedType: input.type,
      repository: repositoryRow.name,
      compression,
      ...(options.scheduleId ? { scheduleId: options.scheduleId } : {}),
    })
    return inserted
  })
  ctx.runner.startBackup(id)
  return { ...row, promoted: type !== input.type }
}

export async function cancelBackup(ctx: BackupContext, id: string) {
  await getBackupRow(ctx, id)
  const requested = await withTransaction(ctx.db, async (tx) => {
    const changed = await repo.requestCancel(tx, id)
    if (changed) await audited(ctx, tx, 'backup.cancel_requested', id, {})
    return changed
  })
  if (!requested) throw new ConflictError('backup_not_running', `Backup ${id} is not pending or running.`)
  ctx.runner.abort(id)
  return getBackupRow(ctx, id)
}

export type RestoreInput = {
  mode: 'directory' | 'verify' | 'database'
  target: RecoveryTarget
  targetDirectory?: string | undefined
  targetDatabase?: string | undefined
}

/** Checks what can be checked before anything is written, records the restore and starts it. */
export async function restoreBackup(ctx: BackupContext, id: string, input: RestoreInput) {
  const backup = await getBackupRow(ctx, id)
  if (backup.status !== 'completed' || backup.deletedAt)
    throw new ConflictError(
      'backup_not_restorable',
      `Backup ${id} is ${backup.deletedAt ? 'deleted' : backup.status}.`,
    )
  const logical = backup.backupType === 'logical'
  if (logical !== (input.mode === 'database'))
    throw new BadRequestError(
      'restore_mode_invalid',
      logical
        ? 'A logical backup restores into a database: mode "database".'
        : 'A physical backup restores with mode "directory" or "verify".',
    )
  const repositoryRow = await ctx.repositories.resolve(backup.repositoryId)
  if (!repositoryRow) throw new NotFoundError('The backup’s repository is gone.', 'repository_not_found')
  let manifest: Awaited<
    ReturnType<Awaited<ReturnType<RepositoryRegistry['open']>>['getManifest']>
  >['manifest']
  try {
    const repository = await ctx.repositories.open(repositoryRow)
    manifest = (await repository.getManifest(id)).manifest
    if (!logical) {
      const stream = backup.instanceId ? await ops.findWalStream(ctx.db, backup.instanceId) : null
      const streamed = stream?.repositoryId === backup.repositoryId ? stream : null
      const stored = await walEnd(repository, manifest)
      checkTarget(manifest, input.target, {
        walEndLsn: streamed?.storedLsn ? maxLsn(stored, parseLsn(streamed.storedLsn)) : stored,
        // Without continuous WAL (and none archived with wal-push), the backup's own end is the
        // latest point; with it, what the stream last stored.
        latestTime: streamed?.storedAt
          ? streamed.storedAt.toISOString()
          : stored === null
            ? manifest.consistentAt
            : null,
      })
    }
  } catch (error) {
    if (error instanceof BackupKeyMismatchError)
      throw fail(
        'backup_key_mismatch',
        422,
        'Wrong master key',
        `${error.message}. Set PGA_MASTER_KEY (or PGA_MASTER_KEY_PREVIOUS) to the key it was made with.`,
      )
    if (error instanceof RestoreTargetUnreachableError)
      throw fail('restore_target_unreachable', 422, 'Target unreachable', error.message)
    throw error
  }
  try {
    if (input.mode !== 'database') {
      await findPgTool('pg_controldata', manifest.pgVersion, { exact: true, binDir: ctx.binDir })
      if (input.mode === 'verify')
        await findPgTool('postgres', manifest.pgVersion, { exact: true, binDir: ctx.binDir })
    } else await findPgTool('pg_restore', manifest.pgVersion, { binDir: ctx.binDir })
  } catch (error) {
    if (error instanceof PgToolMissingError)
      throw fail('pg_tool_missing', 422, 'PostgreSQL program missing', error.message)
    throw error
  }
  if (input.mode === 'directory') await checkDirectory(input.targetDirectory)
  if (input.mode === 'database' && !input.targetDatabase)
    throw new BadRequestError(
      'target_database_required',
      'Mode "database" needs `targetDatabase`, a database that does not exist yet.',
    )
  const opId = crypto.randomUUID()
  const op = await withTransaction(ctx.db, async (tx) => {
    // Retention may have deleted it since it was read; from here on it waits for this restore.
    if (!(await repo.lockRestorable(tx, id)))
      throw new ConflictError('backup_not_restorable', `Backup ${id} is deleted.`)
    const inserted = await ops.insertRestore(tx, {
      id: opId,
      backupId: id,
      mode: input.mode,
      target: targetRecord(input.target),
      targetDirectory: input.targetDirectory ?? null,
      targetDatabase: input.targetDatabase ?? null,
      requestedBy: ctx.audit.actor.id ?? ctx.audit.actor.type,
    })
    await recordAuditEvent(tx, ctx.audit, {
      eventType: 'backup.restore_requested',
      resourceType: 'backup',
      resourceId: id,
      action: 'execute',
      changes: {
        restoreId: opId,
        mode: input.mode,
        target: targetRecord(input.target),
        targetDirectory: input.targetDirectory ?? null,
      },
    })
    return inserted
  })
  ctx.runner.startRestore(opId)
  return op
}

const maxLsn = (a: bigint | null, b: bigint) => (a === null || b > a ? b : a)

export function targetRecord(target: RecoveryTarget): Record<string, string> {
  switch (target.kind) {
    case 'latest':
      return { latest: 'true' }
    case 'time':
      return { time: target.time }
    case 'lsn':
      return { lsn: target.lsn }
    case 'xid':
      return { xid: target.xid }
    case 'name':
      return { name: target.name }
  }
}

async function checkDirectory(directory: string | undefined) {
  if (!directory || !isAbsolute(directory))
    throw new BadRequestError(
      'target_directory_invalid',
      'Mode "directory" needs `targetDirectory`, an absolute path on the service’s host.',
      [{ path: 'body.targetDirectory', message: 'an absolute path' }],
    )
  const exists = await access(directory).then(
    () => true,
    () => false,
  )
  if (exists && (await readdir(directory)).length > 0)
    throw new ConflictError(
      'restore_directory_not_empty',
      `${directory} is not empty; restores never overwrite anything.`,
    )
}

/** A logical backup (triggered or scheduled) dumps one named database. */
export function requireDatabaseOfLogical(type: string, database: string | undefined | null) {
  if (type === 'logical' && !database)
    throw new BadRequestError('database_required', 'A logical backup needs `database`.', [
      { path: 'body.database', message: 'the database to dump' },
    ])
}
