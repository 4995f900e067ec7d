// Backup API: backups (list, read, trigger, cancel, verify, restore), restore operations,
// schedules with their execution log, repositories, and an instance's recovery status. Thin:
// each handler calls one service verb. Operators run backups; restores need an administrator.
import { createRoute, type z } from '@hono/zod-openapi'
import type { Context } from 'hono'
import { auditContextOf } from '../audit/http-context.ts'
import { secured } from '../auth/middleware.ts'
import type { AppDeps } from '../deps.ts'
import { ConflictError, NotFoundError } from '../http/errors.ts'
import { createRouter, errorResponses, idempotent, jsonContent } from '../http/openapi.ts'
import {
  decodeCursor,
  encodeCursor,
  presentBackup,
  presentRepository,
  presentRestore,
  presentSchedule,
} from './present.ts'
import type { RecoveryTarget } from './recovery.ts'
import * as repo from './repo.ts'
import * as ops from './repo-ops.ts'
import * as s from './schemas.ts'
import * as backups from './service.ts'
import * as admin from './service-admin.ts'

const tags = ['Backups']
const route = <T extends Parameters<typeof createRoute>[0]>(config: T) => createRoute({ tags, ...config })

const list = route({
  method: 'get',
  path: '/api/v1/backups',
  operationId: 'listBackups',
  ...secured('backups:read'),
  summary: 'Backups, newest first (filter by instance, type, status; cursor pagination)',
  request: { query: s.BackupListQuery },
  responses: {
    200: { description: 'A page of backups.', content: jsonContent(s.BackupListSchema) },
    ...errorResponses(400, 401, 403),
  },
})
const get = route({
  method: 'get',
  path: '/api/v1/backups/{backupId}',
  operationId: 'getBackup',
  ...secured('backups:read'),
  summary: 'One backup, with its progress while it runs',
  request: { params: s.BackupIdParams },
  responses: {
    200: { description: 'The backup.', content: jsonContent(s.BackupSchema) },
    ...errorResponses(400, 401, 403, 404),
  },
})
const trigger = route({
  method: 'post',
  path: '/api/v1/backups/trigger',
  operationId: 'triggerBackup',
  ...secured('backups:run'),
  ...idempotent,
  summary: 'Start a backup (full, incremental, differential or logical)',
  request: { body: { required: true, content: jsonContent(s.TriggerBackupInputSchema) } },
  responses: {
    202: {
      description: 'Accepted: the backup runs in the background.',
      content: jsonContent(s.TriggeredBackupSchema),
    },
    ...errorResponses(400, 401, 403, 404, 409, 422),
  },
})
const cancel = route({
  method: 'post',
  path: '/api/v1/backups/{backupId}/cancel',
  operationId: 'cancelBackup',
  ...secured('backups:run'),
  summary: 'Cancel a pending or running backup (its objects are removed)',
  request: { params: s.BackupIdParams },
  responses: {
    200: { description: 'Cancellation requested.', content: jsonContent(s.BackupSchema) },
    ...errorResponses(400, 401, 403, 404, 409),
  },
})
const verify = route({
  method: 'post',
  path: '/api/v1/backups/{backupId}/verify',
  operationId: 'verifyBackup',
  ...secured('backups:run'),
  ...idempotent,
  summary: 'Verify every object of a backup and the continuity of its WAL',
  request: { params: s.BackupIdParams, query: s.VerifyQuery },
  responses: {
    200: { description: 'The result (wait=true).', content: jsonContent(s.VerifyResultSchema) },
    202: {
      description: 'Started; the result appears on the backup.',
      content: jsonContent(s.VerifyAcceptedSchema),
    },
    ...errorResponses(400, 401, 403, 404, 409, 422),
  },
})
const restore = route({
  method: 'post',
  path: '/api/v1/backups/{backupId}/restore',
  operationId: 'restoreBackup',
  ...secured('backups:restore'),
  ...idempotent,
  summary: 'Restore a backup: to a directory (PITR), as a drill, or a logical backup into a new database',
  request: { params: s.BackupIdParams, body: { required: true, content: jsonContent(s.RestoreInputSchema) } },
  responses: {
    202: {
      description: 'Accepted: follow it at /api/v1/restore-operations/{id}.',
      content: jsonContent(s.RestoreOperationSchema),
    },
    ...errorResponses(400, 401, 403, 404, 409, 422),
  },
})
const restores = route({
  method: 'get',
  path: '/api/v1/restore-operations',
  operationId: 'listRestoreOperations',
  ...secured('backups:read'),
  summary: 'Restore operations, newest first',
  request: { query: s.RestoreListQuery },
  responses: {
    200: { description: 'Restore operations.', content: jsonContent(s.RestoreOperationListSchema) },
    ...errorResponses(400, 401, 403),
  },
})
const restoreOne = route({
  method: 'get',
  path: '/api/v1/restore-operations/{operationId}',
  operationId: 'getRestoreOperation',
  ...secured('backups:read'),
  summary: 'One restore operation: status, RTO, WAL replayed, achieved target, checks',
  request: { params: s.OperationIdParams },
  responses: {
    200: { description: 'The operation.', content: jsonContent(s.RestoreOperationSchema) },
    ...errorResponses(400, 401, 403, 404),
  },
})
const schedules = route({
  method: 'get',
  path: '/api/v1/backup-schedules',
  operationId: 'listBackupSchedules',
  ...secured('backups:read'),
  summary: 'Backup schedules with their next run',
  responses: {
    200: { description: 'Schedules.', content: jsonContent(s.ScheduleListSchema) },
    ...errorResponses(401, 403),
  },
})
const createSchedule = route({
  method: 'post',
  path: '/api/v1/backup-schedules',
  operationId: 'createBackupSchedule',
  ...secured('backups:run'),
  ...idempotent,
  summary: 'Create a schedule (cron with a time zone, missed-run policy, retention)',
  request: { body: { required: true, content: jsonContent(s.ScheduleInputSchema) } },
  responses: {
    201: { description: 'Created.', content: jsonContent(s.ScheduleSchema) },
    ...errorResponses(400, 401, 403, 404, 409, 422),
  },
})
const updateSchedule = route({
  method: 'put',
  path: '/api/v1/backup-schedules/{scheduleId}',
  operationId: 'updateBackupSchedule',
  ...secured('backups:run'),
  summary: 'Replace a schedule',
  request: {
    params: s.ScheduleIdParams,
    body: { required: true, content: jsonContent(s.ScheduleInputSchema) },
  },
  responses: {
    200: { description: 'Updated.', content: jsonContent(s.ScheduleSchema) },
    ...errorResponses(400, 401, 403, 404, 409),
  },
})
const deleteSchedule = route({
  method: 'delete',
  path: '/api/v1/backup-schedules/{scheduleId}',
  operationId: 'deleteBackupSchedule',
  ...secured('backups:run'),
  summary: 'Delete a schedule (its backups stay)',
  request: { params: s.ScheduleIdParams },
  responses: { 204: { description: 'Deleted.' }, ...errorResponses(400, 401, 403, 404) },
})
const executions = route({
  method: 'get',
  path: '/api/v1/backup-schedules/{scheduleId}/executions',
  operationId: 'listBackupScheduleExecutions',
  ...secured('backups:read'),
  summary: 'What each run of a schedule did (backup_execution_log)',
  request: { params: s.ScheduleIdParams },
  responses: {
    200: { description: 'Log entries, newest first.', content: jsonContent(s.ExecutionLogSchema) },
    ...errorResponses(400, 401, 403, 404),
  },
})
const repositories = route({
  method: 'get',
  path: '/api/v1/backup-repositories',
  operationId: 'listBackupRepositories',
  ...secured('backups:read'),
  summary: 'Backup repositories (no credentials)',
  responses: {
    200: { description: 'Repositories.', content: jsonContent(s.RepositoryListSchema) },
    ...errorResponses(401, 403),
  },
})
const createRepository = route({
  method: 'post',
  path: '/api/v1/backup-repositories',
  operationId: 'createBackupRepository',
  ...secured('backups:manage'),
  ...idempotent,
  summary: 'Add a repository (checked by listing it; credentials encrypted, never returned)',
  request: { body: { required: true, content: jsonContent(s.RepositoryInputSchema) } },
  responses: {
    201: { description: 'Created.', content: jsonContent(s.RepositorySchema) },
    ...errorResponses(400, 401, 403, 409, 422),
  },
})
const deleteRepository = route({
  method: 'delete',
  path: '/api/v1/backup-repositories/{repositoryId}',
  operationId: 'deleteBackupRepository',
  ...secured('backups:manage'),
  summary: 'Remove a repository no backup is recorded in',
  request: { params: s.RepositoryIdParams },
  responses: { 204: { description: 'Removed.' }, ...errorResponses(400, 401, 403, 404, 409) },
})
const recovery = route({
  method: 'get',
  path: '/api/v1/instances/{id}/recovery',
  operationId: 'getInstanceRecoveryStatus',
  ...secured('backups:read'),
  summary: 'What the instance can be restored to: latest backup, WAL continuity, RPO, restorable window',
  request: { params: s.InstanceIdParams },
  responses: {
    200: { description: 'Recovery status.', content: jsonContent(s.RecoveryStatusSchema) },
    ...errorResponses(400, 401, 403, 404),
  },
})

function targetFrom(input: z.infer<typeof s.RestoreInputSchema>): RecoveryTarget {
  if (input.targetTime) return { kind: 'time', time: input.targetTime }
  if (input.targetLsn) return { kind: 'lsn', lsn: input.targetLsn }
  if (input.targetXid) return { kind: 'xid', xid: input.targetXid }
  if (input.targetName) return { kind: 'name', name: input.targetName }
  return { kind: 'latest' }
}

export function backupRoutes(deps: AppDeps) {
  const router = createRouter()
  const ctx = (c: Context): backups.BackupContext => ({
    db: deps.db.sql,
    audit: auditContextOf(c),
    repositories: deps.backup.repositories,
    runner: deps.backup.runner,
    defaultCompression: deps.backup.runner.compression,
    binDir: deps.config.backup.pgBinDir,
  })

  router.openapi(list, async (c) => {
    const q = c.req.valid('query')
    const rows = await repo.listBackups(deps.db.sql, {
      ...q,
      before: q.cursor ? decodeCursor(q.cursor) : undefined,
      limit: q.limit + 1,
    })
    const page = rows.slice(0, q.limit)
    return c.json(
      {
        items: page.map(presentBackup),
        nextCursor: rows.length > q.limit ? encodeCursor(page.at(-1) as repo.BackupRow) : null,
      },
      200,
    )
  })
  router.openapi(get, async (c) =>
    c.json(presentBackup(await backups.getBackupRow(ctx(c), c.req.valid('param').backupId)), 200),
  )
  router.openapi(trigger, async (c) => {
    const { promoted, ...row } = await backups.triggerBackup(ctx(c), c.req.valid('json'))
    return c.json({ ...presentBackup(row), promoted }, 202)
  })
  router.openapi(cancel, async (c) =>
    c.json(presentBackup(await backups.cancelBackup(ctx(c), c.req.valid('param').backupId)), 200),
  )
  router.openapi(verify, async (c) => {
    const { backupId } = c.req.valid('param')
    const backup = await backups.getBackupRow(ctx(c), backupId)
    if (backup.status !== 'completed')
      throw new ConflictError('backup_not_completed', `Backup ${backupId} is ${backup.status}.`)
    const running = deps.backup.runner.verify(backupId)
    if (c.req.valid('query').wait === 'false') {
      running.catch((error) => deps.log.warn('verification failed', { backupId, error: String(error) }))
      return c.json({ backupId, status: 'running' as const }, 202)
    }
    const result = await running
    if (!result)
      throw new ConflictError(
        'verify_in_progress',
        `Backup ${backupId} is being verified by another replica.`,
      )
    return c.json(result, 200)
  })
  router.openapi(restore, async (c) => {
    const input = c.req.valid('json')
    const op = await backups.restoreBackup(ctx(c), c.req.valid('param').backupId, {
      mode: input.mode,
      target: targetFrom(input),
      targetDirectory: input.targetDirectory,
      targetDatabase: input.targetDatabase,
    })
    return c.json(presentRestore(op), 202)
  })
  router.openapi(restores, async (c) => {
    const q = c.req.valid('query')
    return c.json({ items: (await ops.listRestores(deps.db.sql, q)).map(presentRestore) }, 200)
  })
  router.openapi(restoreOne, async (c) => {
    const row = await ops.findRestore(deps.db.sql, c.req.valid('param').operationId)
    if (!row) throw new NotFoundError('The restore operation does not exist.')
    return c.json(presentRestore(row), 200)
  })
  router.openapi(schedules, async (c) =>
    c.json({ items: (await ops.listSchedules(deps.db.sql)).map(presentSchedule) }, 200),
  )
  router.openapi(createSchedule, async (c) =>
    c.json(presentSchedule(await admin.createSchedule(ctx(c), c.req.valid('json'))), 201),
  )
  router.openapi(updateSchedule, async (c) =>
    c.json(
      presentSchedule(
        await admin.updateSchedule(ctx(c), c.req.valid('param').scheduleId, c.req.valid('json')),
      ),
      200,
    ),
  )
  router.openapi(deleteSchedule, async (c) => {
    await admin.deleteSchedule(ctx(c), c.req.valid('param').scheduleId)
    return c.body(null, 204)
  })
  router.openapi(executions, async (c) => {
    const { scheduleId } = c.req.valid('param')
    if (!(await ops.findSchedule(deps.db.sql, scheduleId)))
      throw new NotFoundError(`Schedule ${scheduleId} does not exist.`)
    const rows = await ops.executionLog(deps.db.sql, scheduleId, 200)
    return c.json(
      {
        items: rows.map((r) => ({
          ...r,
          durationMs: r.durationMs === null ? null : Number(r.durationMs),
          createdAt: r.createdAt.toISOString(),
        })),
      },
      200,
    )
  })
  router.openapi(repositories, async (c) =>
    c.json({ items: (await repo.listRepositories(deps.db.sql)).map(presentRepository) }, 200),
  )
  router.openapi(createRepository, async (c) => {
    const { name, url, endpoint, region, forcePathStyle, isDefault, ...secrets } = c.req.valid('json')
    const credentials = Object.values(secrets).some(Boolean) ? secrets : undefined
    const row = await admin.createRepository(ctx(c), deps.keys.keyring(), {
      name,
      url,
      settings: { endpoint, region, forcePathStyle },
      credentials,
      isDefault,
    })
    return c.json(presentRepository(row), 201)
  })
  router.openapi(deleteRepository, async (c) => {
    await admin.deleteRepository(ctx(c), c.req.valid('param').repositoryId)
    return c.body(null, 204)
  })
  router.openapi(recovery, async (c) =>
    c.json(await admin.recoveryStatus(ctx(c), c.req.valid('param').id), 200),
  )
  return router
}
