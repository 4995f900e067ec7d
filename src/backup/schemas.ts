// Request and response shapes of the backup API (zod, with OpenAPI names).
import { z } from '@hono/zod-openapi'
import { orNull } from '../http/schema-shapes.ts'
import { compressions } from './compression-names.ts'

const backupTypes = ['full', 'incremental', 'differential', 'logical'] as const
const statuses = ['pending', 'running', 'completed', 'failed', 'cancelled'] as const
const lsn = z.string().regex(/^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/, 'an LSN such as 16/B374D848')
const timestamp = z.string().nullable()

export const BackupIdParams = z.object({
  backupId: z.uuid().openapi({ param: { name: 'backupId', in: 'path' } }),
})
export const ScheduleIdParams = z.object({
  scheduleId: z.uuid().openapi({ param: { name: 'scheduleId', in: 'path' } }),
})
export const OperationIdParams = z.object({
  operationId: z.uuid().openapi({ param: { name: 'operationId', in: 'path' } }),
})
export const RepositoryIdParams = z.object({
  repositoryId: z.uuid().openapi({ param: { name: 'repositoryId', in: 'path' } }),
})
export const InstanceIdParams = z.object({ id: z.uuid().openapi({ param: { name: 'id', in: 'path' } }) })

export const BackupListQuery = z.object({
  instanceId: z.uuid().optional(),
  type: z.enum(backupTypes).optional(),
  status: z.enum(statuses).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(200).optional().openapi({ description: 'nextCursor of the previous page.' }),
})

const ProgressSchema = z
  .object({
    bytesDone: z.number(),
    bytesTotal: z.number(),
    ratePerSecond: z.number().optional(),
    etaSeconds: z.number().nullable().optional(),
  })
  .openapi('BackupProgress')

export const BackupSchema = z
  .object({
    id: z.uuid(),
    instanceId: z
      .uuid()
      .nullable()
      .openapi({ description: 'Null once the instance was deleted (its backups stay).' }),
    instanceName: z.string(),
    repositoryId: z.uuid(),
    type: z.enum(backupTypes),
    status: z.enum(statuses),
    parentBackupId: z.uuid().nullable(),
    chainId: z.uuid().nullable(),
    database: z.string().nullable(),
    compression: z.enum(compressions),
    pgVersion: z.number().int().nullable(),
    timeline: z.number().int().nullable(),
    startLsn: z.string().nullable(),
    endLsn: z.string().nullable(),
    consistentAt: timestamp.openapi({
      description: 'When the copy was consistent: the earliest point it restores to.',
    }),
    startedAt: timestamp,
    finishedAt: timestamp,
    sourceSizeBytes: z.number().nullable().openapi({ description: 'Bytes read from the server.' }),
    storedSizeBytes: z
      .number()
      .nullable()
      .openapi({ description: 'Bytes this backup added to the repository.' }),
    fileCount: z.number().int().nullable(),
    chunkCount: z.number().int().nullable(),
    newChunkCount: z.number().int().nullable(),
    manifestSha256: z.string().nullable(),
    verifiedAt: timestamp,
    verifyResult: z.unknown().nullable(),
    progress: orNull(ProgressSchema),
    error: z.string().nullable(),
    cancelRequested: z.boolean(),
    requestedBy: z.string().nullable(),
    scheduleId: z.uuid().nullable(),
    deletedAt: timestamp,
    createdAt: z.string(),
  })
  .openapi('Backup')

export const TriggeredBackupSchema = BackupSchema.extend({
  promoted: z
    .boolean()
    .openapi({ description: 'An incremental or differential with no full before it, taken as a full.' }),
}).openapi('TriggeredBackup')

export const BackupListSchema = z
  .object({ items: z.array(BackupSchema), nextCursor: z.string().nullable() })
  .openapi('BackupList')

export const TriggerBackupInputSchema = z
  .object({
    instanceId: z.uuid(),
    type: z.enum(backupTypes).default('full'),
    compression: z.enum(compressions).optional().openapi({ description: 'Unset: PGA_BACKUP_COMPRESSION.' }),
    repository: z
      .string()
      .min(1)
      .max(64)
      .optional()
      .openapi({ description: 'Name or id; unset: the default repository.' }),
    database: z
      .string()
      .min(1)
      .max(63)
      .optional()
      .openapi({ description: 'Logical backups: the database to dump.' }),
  })
  .strict()
  .openapi('TriggerBackupInput')

export const VerifyQuery = z.object({
  wait: z
    .enum(['true', 'false'])
    .default('false')
    .openapi({ description: 'Answer with the result (200) instead of 202.' }),
})

export const VerifyResultSchema = z
  .object({
    ok: z.boolean(),
    manifestSha256: z.string().nullable(),
    chunks: z.number().int(),
    bytes: z.number(),
    problems: z.array(z.string()),
    wal: orNull(
      z
        .object({
          from: z.string().nullable(),
          segments: z.number().int(),
          partial: z.boolean(),
          gapAt: z.string().nullable(),
        })
        .openapi('BackupWalCheck'),
    ),
  })
  .openapi('BackupVerifyResult')

export const VerifyAcceptedSchema = z
  .object({ backupId: z.uuid(), status: z.literal('running') })
  .openapi('BackupVerifyAccepted')

export const RestoreInputSchema = z
  .object({
    mode: z.enum(['directory', 'verify', 'database']).openapi({
      description:
        'directory: write a PGDATA that plain pg_ctl starts and recovers to the target; verify: a restore drill (restore, start, check, remove); database: a logical backup into a new database.',
    }),
    targetTime: z.iso.datetime({ offset: true }).optional(),
    targetLsn: lsn.optional(),
    targetXid: z
      .string()
      .regex(/^\d{1,20}$/, 'a transaction id')
      .optional(),
    targetName: z
      .string()
      .min(1)
      .max(63)
      .optional()
      .openapi({ description: 'A restore point (pg_create_restore_point).' }),
    targetDirectory: z.string().min(1).max(4096).optional(),
    targetDatabase: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_$-]{0,62}$/, 'a database name')
      .optional(),
  })
  .strict()
  .refine((v) => [v.targetTime, v.targetLsn, v.targetXid, v.targetName].filter(Boolean).length <= 1, {
    message: 'at most one of targetTime, targetLsn, targetXid, targetName (none: the latest point)',
    path: ['targetTime'],
  })
  .openapi('RestoreInput')

export const RestoreOperationSchema = z
  .object({
    id: z.uuid(),
    backupId: z.uuid(),
    mode: z.enum(['directory', 'verify', 'database']),
    status: z.enum(statuses),
    target: z.record(z.string(), z.string()),
    targetDirectory: z.string().nullable(),
    targetDatabase: z.string().nullable(),
    achievedTarget: z.unknown().nullable(),
    rtoMs: z
      .number()
      .nullable()
      .openapi({ description: 'From the request to the restored copy open (drill) or written (directory).' }),
    walSegments: z.number().int().nullable(),
    walBytes: z.number().nullable(),
    restoredSizeBytes: z.number().nullable(),
    checks: z.unknown().nullable(),
    error: z.string().nullable(),
    requestedBy: z.string().nullable(),
    startedAt: timestamp,
    finishedAt: timestamp,
    createdAt: z.string(),
  })
  .openapi('RestoreOperation')

export const RestoreOperationListSchema = z
  .object({ items: z.array(RestoreOperationSchema) })
  .openapi('RestoreOperationList')

export const RestoreListQuery = z.object({
  backupId: z.uuid().optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
})

export const ScheduleInputSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and -'),
    instanceId: z.uuid(),
    repository: z.string().min(1).max(64).optional(),
    backupType: z.enum(backupTypes),
    database: z.string().min(1).max(63).optional(),
    cronExpression: z.string().min(1).max(100).openapi({ example: '0 2 * * *' }),
    timeZone: z.string().min(1).max(64).default('UTC').openapi({ example: 'Europe/Berlin' }),
    compression: z.enum(compressions).optional(),
    enabled: z.boolean().default(true),
    missedRunPolicy: z.enum(['run_once', 'skip']).default('run_once'),
    retentionFullCount: z.number().int().min(1).max(1000).optional(),
    retentionDays: z.number().int().min(1).max(3650).optional(),
  })
  .strict()
  .openapi('BackupScheduleInput')

export const ScheduleSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    instanceId: z.uuid(),
    repositoryId: z.uuid().nullable(),
    backupType: z.enum(backupTypes),
    database: z.string().nullable(),
    cronExpression: z.string(),
    timeZone: z.string(),
    compression: z.enum(compressions).nullable(),
    enabled: z.boolean(),
    missedRunPolicy: z.enum(['run_once', 'skip']),
    retentionFullCount: z.number().int().nullable(),
    retentionDays: z.number().int().nullable(),
    nextRunAt: timestamp,
    lastRunAt: timestamp,
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('BackupSchedule')

export const ScheduleListSchema = z.object({ items: z.array(ScheduleSchema) }).openapi('BackupScheduleList')

export const ExecutionLogSchema = z
  .object({
    items: z.array(
      z.object({
        step: z.string(),
        status: z.string(),
        message: z.string().nullable(),
        backupId: z.uuid().nullable(),
        durationMs: z.number().nullable(),
        createdAt: z.string(),
      }),
    ),
  })
  .openapi('BackupExecutionLog')

export const RepositoryInputSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and -'),
    url: z.string().min(1).max(1024).openapi({ example: 's3://pga-backups/prod' }),
    endpoint: z.url().optional(),
    region: z.string().min(1).max(64).optional(),
    forcePathStyle: z.boolean().optional(),
    accessKeyId: z.string().min(1).max(256).optional(),
    secretAccessKey: z
      .string()
      .min(1)
      .max(256)
      .optional()
      .openapi({ format: 'password', description: 'Write-only; stored encrypted.' }),
    accountKey: z
      .string()
      .min(1)
      .max(256)
      .optional()
      .openapi({ format: 'password', description: 'Write-only; stored encrypted.' }),
    sasToken: z
      .string()
      .min(1)
      .max(2048)
      .optional()
      .openapi({ format: 'password', description: 'Write-only; stored encrypted.' }),
    connectionString: z
      .string()
      .min(1)
      .max(2048)
      .optional()
      .openapi({ format: 'password', description: 'Write-only; stored encrypted.' }),
    isDefault: z.boolean().default(false),
  })
  .strict()
  .openapi('BackupRepositoryInput')

export const RepositorySchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    url: z.string(),
    settings: z.record(z.string(), z.union([z.string(), z.boolean()])),
    hasCredentials: z.boolean(),
    isDefault: z.boolean(),
    fromEnvironment: z.boolean(),
    createdAt: z.string(),
  })
  .openapi('BackupRepository')

export const RepositoryListSchema = z
  .object({ items: z.array(RepositorySchema) })
  .openapi('BackupRepositoryList')

export const RecoveryStatusSchema = z
  .object({
    instanceId: z.uuid(),
    latestBackupId: z.uuid().nullable(),
    backups: z.number().int(),
    walContinuous: z.boolean(),
    walStreaming: z.boolean(),
    walError: z.string().nullable(),
    storedLsn: z.string().nullable(),
    rpoSeconds: z.number().nullable().openapi({ description: 'Age of the newest restorable point.' }),
    earliestRestorableTime: timestamp,
    latestRestorableTime: timestamp,
  })
  .openapi('RecoveryStatus')
