// Schemas of the audit API.
import { z } from '@hono/zod-openapi'
import { orNull } from '../http/schema-shapes.ts'
import { frameworks } from './reports.ts'

const Entry = z
  .object({
    id: z.number().int(),
    eventId: z.string(),
    eventType: z.string(),
    resourceType: z.string(),
    resourceId: z.string().nullable(),
    action: z.string(),
    outcome: z.enum(['success', 'failure']),
    actorType: z.string(),
    actorId: z.string().nullable(),
    sessionId: z.string().nullable(),
    requestId: z.string().nullable(),
    ipAddress: z.string().nullable(),
    userAgent: z.string().nullable(),
    changes: z.unknown(),
    oldValues: z.unknown(),
    newValues: z.unknown(),
    createdAt: z.string(),
    sealedAt: z.string(),
    previousHash: z.string(),
    contentHash: z.string(),
  })
  .openapi('AuditEntry')

export const AuditEntrySchema = Entry
export const AuditPageSchema = z
  .object({
    items: z.array(Entry),
    nextCursor: z
      .number()
      .int()
      .nullable()
      .openapi({ description: 'Pass as `cursor` for the next (older) page.' }),
  })
  .openapi('AuditPage')

const iso = z.iso.datetime({ offset: true }).optional()
export const AuditSearchQuery = z.object({
  eventType: z.string().max(100).optional(),
  resourceType: z.string().max(100).optional(),
  resourceId: z.string().max(200).optional(),
  action: z.string().max(50).optional(),
  actorId: z.string().max(200).optional(),
  from: iso,
  to: iso,
  cursor: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
})
export const AuditIdParams = z.object({
  id: z.coerce
    .number()
    .int()
    .positive()
    .max(Number.MAX_SAFE_INTEGER)
    .openapi({ param: { name: 'id', in: 'path' }, example: 42 }),
})
export const UserParams = z.object({
  userId: z
    .string()
    .min(1)
    .max(200)
    .openapi({ param: { name: 'userId', in: 'path' } }),
})
export const UserActivityQuery = AuditSearchQuery.omit({ actorId: true })

export const VerifyInputSchema = z
  .object({
    fromId: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
    toId: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
    archives: z.boolean().optional().openapi({
      description:
        'Also fetch every archive bundle still kept and verify its bytes, entries, signatures and links.',
    }),
  })
  .strict()
  .refine((r) => r.fromId === undefined || r.toId === undefined || r.fromId <= r.toId, {
    message: 'fromId must not exceed toId',
    path: ['fromId'],
  })
  .openapi('AuditVerifyInput')

export const VerifyResultSchema = z
  .object({
    valid: z.boolean(),
    checkedEntries: z.number().int(),
    checkedCheckpoints: z.number().int(),
    firstEntry: z.number().int().nullable(),
    lastEntry: z.number().int().nullable(),
    archivedThrough: z.number().int().openapi({
      description: 'Entries up to this id are in archive bundles and were not checked here (0: none).',
    }),
    problem: orNull(
      z
        .object({
          entryId: z.number().int().optional(),
          checkpointTreeSize: z.number().int().optional(),
          reason: z.string(),
        })
        .openapi('AuditChainProblem'),
    ).openapi({ description: 'The first broken entry or checkpoint, and what is wrong with it.' }),
    archives: z
      .object({
        checked: z.number().int(),
        problem: orNull(
          z.object({ archiveId: z.number().int(), reason: z.string() }).openapi('AuditArchiveProblem'),
        ),
      })
      .optional()
      .openapi({ description: 'With `archives: true`: the bundles checked, and the first broken one.' }),
  })
  .openapi('AuditVerifyResult')

export const PublicKeyListSchema = z
  .object({
    items: z.array(
      z.object({
        keyId: z.string(),
        algorithm: z.string(),
        publicKeySpki: z.string().openapi({ description: 'Base64 DER SubjectPublicKeyInfo.' }),
        pem: z.string(),
        createdAt: z.string(),
      }),
    ),
  })
  .openapi('AuditPublicKeys')

export const ProofQuery = z.object({
  treeSize: z.coerce
    .number()
    .int()
    .positive()
    .max(Number.MAX_SAFE_INTEGER)
    .optional()
    .openapi({ description: 'Tree size of a checkpoint (default: the latest).' }),
})

const CheckpointSchema = z
  .object({
    tree_size: z.number().int(),
    root_hash: z.string(),
    previous_checkpoint_hash: z.string(),
    key_id: z.string(),
    created_at: z.string(),
    checkpoint_hash: z.string(),
    signature: z
      .string()
      .openapi({ description: 'RSA-PSS over the RFC 8785 encoding of the first five fields.' }),
  })
  .openapi('AuditCheckpoint')

export const InclusionProofSchema = z
  .object({
    leafIndex: z.number().int(),
    treeSize: z.number().int(),
    entry: z.record(z.string(), z.unknown()).openapi({
      description: 'The entry as hashed: content_hash = SHA-256 of RFC 8785 JSON of all fields but itself.',
    }),
    leafHash: z.string(),
    auditPath: z.array(z.string()).openapi({ description: 'RFC 9162 audit path, hex.' }),
    checkpoint: CheckpointSchema,
  })
  .openapi('AuditInclusionProof')

export const ConsistencyQuery = z
  .object({
    first: z.coerce
      .number()
      .int()
      .positive()
      .max(Number.MAX_SAFE_INTEGER)
      .openapi({ description: 'Tree size of the older checkpoint.' }),
    second: z.coerce
      .number()
      .int()
      .positive()
      .max(Number.MAX_SAFE_INTEGER)
      .openapi({ description: 'Tree size of the newer checkpoint.' }),
  })
  .refine((q) => q.first <= q.second, { message: 'first must not exceed second', path: ['first'] })

export const ConsistencyProofSchema = z
  .object({ first: CheckpointSchema, second: CheckpointSchema, proof: z.array(z.string()) })
  .openapi('AuditConsistencyProof')

export const CheckpointListQuery = z.object({
  before: z.coerce
    .number()
    .int()
    .positive()
    .max(Number.MAX_SAFE_INTEGER)
    .optional()
    .openapi({ description: 'Only tree sizes below this.' }),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
})
export const CheckpointListSchema = z
  .object({ items: z.array(CheckpointSchema) })
  .openapi('AuditCheckpointList')

export const ReportParams = z.object({
  framework: z.enum(frameworks).openapi({ param: { name: 'framework', in: 'path' } }),
})
export const ComplianceReportQuery = z.object({
  from: z.iso.datetime({ offset: true }),
  to: z.iso.datetime({ offset: true }),
  userId: z.string().min(1).max(200).optional().openapi({ description: 'The person (GDPR subject access).' }),
  format: z.enum(['json', 'csv']).default('json'),
})
export const ComplianceReportSchema = z
  .object({
    framework: z.string(),
    from: z.string(),
    to: z.string(),
    userId: z.string().optional(),
    generatedAt: z.string(),
    verification: VerifyResultSchema,
    sections: z.array(
      z.object({
        control: z.string(),
        description: z.string(),
        count: z.number().int(),
        events: z.array(z.record(z.string(), z.unknown())),
      }),
    ),
  })
  .openapi('ComplianceReport')

const Policy = z
  .object({
    framework: z.enum(frameworks),
    retentionDays: z.number().int(),
    archiveAfterDays: z.number().int().nullable(),
    deletionAllowed: z.boolean(),
    updatedAt: z.string(),
    updatedBy: z.string().nullable(),
  })
  .openapi('AuditRetentionPolicy')

export const RetentionPolicyListSchema = z
  .object({
    items: z.array(Policy),
    effective: z
      .object({
        archiveAfterDays: z.number().int().nullable(),
        retentionDays: z.number().int(),
        deletionAllowed: z.boolean(),
      })
      .openapi({
        description:
          'What applies to the one chain: the longest archive-after and retention, deletion only when every policy allows it.',
      }),
    archiveStore: z.string().nullable().openapi({ description: 'Where bundles go; null: archiving is off.' }),
  })
  .openapi('AuditRetentionPolicyList')
export const RetentionPolicySchema = Policy

export const RetentionPolicyParams = z.object({
  framework: z.enum(frameworks).openapi({ param: { name: 'framework', in: 'path' } }),
})
export const RetentionPolicyInputSchema = z
  .object({
    retentionDays: z.number().int().min(1).max(36500),
    archiveAfterDays: z
      .number()
      .int()
      .min(1)
      .max(36500)
      .nullable()
      .openapi({ description: 'Days entries stay in the database before archiving; null: no requirement.' }),
    deletionAllowed: z.boolean().openapi({
      description: 'May bundles older than retentionDays be deleted? Every policy must allow it.',
    }),
  })
  .strict()
  .openapi('AuditRetentionPolicyInput')

const Archive = z
  .object({
    id: z.number().int(),
    firstId: z.number().int(),
    lastId: z.number().int(),
    entryCount: z.number().int(),
    firstCreatedAt: z.string(),
    lastCreatedAt: z.string(),
    previousHash: z.string(),
    lastContentHash: z.string(),
    store: z.string(),
    objectKey: z.string(),
    sha256: z.string(),
    sizeBytes: z.number().int(),
    archivedAt: z.string(),
    expiredAt: z.string().nullable(),
  })
  .openapi('AuditArchive')

export const ArchiveListSchema = z.object({ items: z.array(Archive) }).openapi('AuditArchiveList')
export const ArchiveRunSchema = z
  .object({ archived: z.array(Archive), expired: z.array(Archive), archivingEnabled: z.boolean() })
  .openapi('AuditArchiveRun')
