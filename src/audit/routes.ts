// Audit API: search, one entry, a user's activity, verification, the signing keys. Behind the
// admin token until roles exist; every read is itself recorded.
import { createRoute } from '@hono/zod-openapi'
import type { Context } from 'hono'
import { secured } from '../auth/middleware.ts'
import type { AppDeps } from '../deps.ts'
import { createRouter, errorResponses, idempotent, jsonContent } from '../http/openapi.ts'
import { auditContextOf } from './http-context.ts'
import { complianceReport, reportCsv } from './reports.ts'
import {
  ArchiveListSchema,
  ArchiveRunSchema,
  AuditEntrySchema,
  AuditIdParams,
  AuditPageSchema,
  AuditSearchQuery,
  CheckpointListQuery,
  CheckpointListSchema,
  ComplianceReportQuery,
  ComplianceReportSchema,
  ConsistencyProofSchema,
  ConsistencyQuery,
  InclusionProofSchema,
  ProofQuery,
  PublicKeyListSchema,
  ReportParams,
  RetentionPolicyInputSchema,
  RetentionPolicyListSchema,
  RetentionPolicyParams,
  RetentionPolicySchema,
  UserActivityQuery,
  UserParams,
  VerifyInputSchema,
  VerifyResultSchema,
} from './schemas.ts'
import * as audit from './service.ts'

const tags = ['Audit']

const search = createRoute({
  method: 'get',
  path: '/api/v1/audit/logs',
  operationId: 'searchAuditLogs',
  tags,
  ...secured('audit:read'),
  summary: 'Search the audit trail, newest first (cursor pagination)',
  request: { query: AuditSearchQuery },
  responses: {
    200: { description: 'A page of entries.', content: jsonContent(AuditPageSchema) },
    ...errorResponses(400, 401, 403),
  },
})
const one = createRoute({
  method: 'get',
  path: '/api/v1/audit/logs/{id}',
  operationId: 'getAuditLog',
  tags,
  ...secured('audit:read'),
  summary: 'One sealed audit entry',
  request: { params: AuditIdParams },
  responses: {
    200: { description: 'The entry.', content: jsonContent(AuditEntrySchema) },
    ...errorResponses(400, 401, 403, 404),
  },
})
const proof = createRoute({
  method: 'get',
  path: '/api/v1/audit/logs/{id}/proof',
  operationId: 'auditInclusionProof',
  tags,
  ...secured('audit:read'),
  summary: 'Inclusion proof of one entry in a signed checkpoint (RFC 9162)',
  request: { params: AuditIdParams, query: ProofQuery },
  responses: {
    200: {
      description: 'Entry, audit path and signed checkpoint.',
      content: jsonContent(InclusionProofSchema),
    },
    ...errorResponses(400, 401, 403, 404),
  },
})
const checkpoints = createRoute({
  method: 'get',
  path: '/api/v1/audit/checkpoints',
  operationId: 'listAuditCheckpoints',
  tags,
  // Public like the keys: checkpoints carry only hashes and signatures, what monitors need.
  security: [],
  summary: 'Signed checkpoints, newest first',
  request: { query: CheckpointListQuery },
  responses: {
    200: { description: 'Checkpoints.', content: jsonContent(CheckpointListSchema) },
    ...errorResponses(400),
  },
})
const consistency = createRoute({
  method: 'get',
  path: '/api/v1/audit/checkpoints/consistency',
  operationId: 'auditConsistencyProof',
  tags,
  // Behind the token: it reads every leaf of the newer tree, too costly to leave open.
  ...secured('audit:read'),
  summary: 'Consistency proof between two checkpoints (RFC 9162): the older tree is a prefix of the newer',
  request: { query: ConsistencyQuery },
  responses: {
    200: { description: 'Both checkpoints and the proof.', content: jsonContent(ConsistencyProofSchema) },
    ...errorResponses(400, 401, 403, 404),
  },
})
const userActivity = createRoute({
  method: 'get',
  path: '/api/v1/audit/activity/users/{userId}',
  operationId: 'auditUserActivity',
  tags,
  ...secured('audit:read'),
  summary: 'What one actor did',
  request: { params: UserParams, query: UserActivityQuery },
  responses: {
    200: { description: 'A page of entries.', content: jsonContent(AuditPageSchema) },
    ...errorResponses(400, 401, 403),
  },
})
const verify = createRoute({
  method: 'post',
  path: '/api/v1/audit/verify',
  operationId: 'verifyAuditTrail',
  tags,
  ...secured('audit:read'),
  ...idempotent,
  summary: 'Verify hashes, chain, Merkle roots and signatures (a range or everything)',
  request: { body: { required: false, content: jsonContent(VerifyInputSchema) } },
  responses: {
    200: {
      description: 'The verdict; `problem` names the first broken entry.',
      content: jsonContent(VerifyResultSchema),
    },
    ...errorResponses(400, 401, 403, 409, 422),
  },
})
const report = createRoute({
  method: 'get',
  path: '/api/v1/audit/reports/{framework}',
  operationId: 'complianceReport',
  tags,
  ...secured('audit:read'),
  summary:
    'Compliance report (GDPR, HIPAA, SOX, PCI-DSS) over a time range, JSON or CSV, with its verification',
  request: { params: ReportParams, query: ComplianceReportQuery },
  responses: {
    200: {
      description: 'The report.',
      content: { ...jsonContent(ComplianceReportSchema), 'text/csv': { schema: { type: 'string' } } },
    },
    ...errorResponses(400, 401, 403),
  },
})
const keys = createRoute({
  method: 'get',
  path: '/api/v1/audit/public-keys',
  operationId: 'auditPublicKeys',
  tags,
  // Public on purpose: outside verifiers need the keys without credentials.
  security: [],
  summary: 'Public keys that sign audit checkpoints (for outside verification)',
  responses: { 200: { description: 'Keys.', content: jsonContent(PublicKeyListSchema) } },
})

const policies = createRoute({
  method: 'get',
  path: '/api/v1/audit/retention-policies',
  operationId: 'listAuditRetentionPolicies',
  tags,
  ...secured('audit:read'),
  summary: 'Retention policy per compliance framework, and what applies to the trail',
  responses: {
    200: { description: 'Policies.', content: jsonContent(RetentionPolicyListSchema) },
    ...errorResponses(401, 403),
  },
})
const updatePolicy = createRoute({
  method: 'put',
  path: '/api/v1/audit/retention-policies/{framework}',
  operationId: 'updateAuditRetentionPolicy',
  tags,
  ...secured('audit:manage'),
  summary: 'Change one framework’s retention policy',
  request: {
    params: RetentionPolicyParams,
    body: { required: true, content: jsonContent(RetentionPolicyInputSchema) },
  },
  responses: {
    200: { description: 'The policy.', content: jsonContent(RetentionPolicySchema) },
    ...errorResponses(400, 401, 403, 404),
  },
})
const archives = createRoute({
  method: 'get',
  path: '/api/v1/audit/archives',
  operationId: 'listAuditArchives',
  tags,
  ...secured('audit:read'),
  summary: 'Archive bundles: the entries each holds, where, and its SHA-256',
  responses: {
    200: { description: 'Bundles, oldest first.', content: jsonContent(ArchiveListSchema) },
    ...errorResponses(401, 403),
  },
})
const runArchiving = createRoute({
  method: 'post',
  path: '/api/v1/audit/archives',
  operationId: 'runAuditArchiving',
  tags,
  ...secured('audit:manage'),
  ...idempotent,
  summary: 'Archive the entries due now and delete bundles past retention (when allowed)',
  responses: {
    200: { description: 'What was archived and expired.', content: jsonContent(ArchiveRunSchema) },
    ...errorResponses(401, 403, 409, 422),
  },
})

export function auditRoutes(deps: AppDeps) {
  const router = createRouter()
  const ctx = (c: Context) => ({
    db: deps.db.sql,
    audit: auditContextOf(c),
    sink: deps.checkpointSink,
    archiver: deps.auditArchiver,
  })

  router.openapi(search, async (c) =>
    c.json((await audit.searchLogs(ctx(c), c.req.valid('query'))) as never, 200),
  )
  router.openapi(one, async (c) =>
    c.json((await audit.getLog(ctx(c), c.req.valid('param').id)) as never, 200),
  )
  router.openapi(proof, async (c) =>
    c.json(
      (await audit.inclusionProofOf(ctx(c), c.req.valid('param').id, c.req.valid('query').treeSize)) as never,
      200,
    ),
  )
  router.openapi(userActivity, async (c) =>
    c.json(
      (await audit.searchLogs(ctx(c), {
        ...c.req.valid('query'),
        actorId: c.req.valid('param').userId,
      })) as never,
      200,
    ),
  )
  // Without a body (or content type) the whole trail is verified.
  router.openapi(verify, async (c) => c.json(await audit.verify(ctx(c), c.req.valid('json') ?? {}), 200))
  router.openapi(checkpoints, async (c) => {
    const { limit, before } = c.req.valid('query')
    return c.json(await audit.listCheckpoints({ db: deps.db.sql }, limit, before), 200)
  })
  router.openapi(consistency, async (c) => {
    const { first, second } = c.req.valid('query')
    return c.json(await audit.consistencyProofOf(ctx(c), first, second), 200)
  })
  router.openapi(report, async (c) => {
    const { format, ...query } = c.req.valid('query')
    const result = await complianceReport(
      deps.db.sql,
      auditContextOf(c),
      c.req.valid('param').framework,
      query,
      deps.checkpointSink,
    )
    if (format === 'csv')
      return c.body(reportCsv(result), 200, {
        'Content-Type': 'text/csv; charset=utf-8',
        'Content-Disposition': `attachment; filename="${result.framework}-report.csv"`,
      }) as never
    return c.json(result as never, 200)
  })
  router.openapi(keys, async (c) => c.json({ items: await audit.listPublicKeys({ db: deps.db.sql }) }, 200))
  router.openapi(policies, async (c) => c.json(await audit.retentionPolicies(ctx(c)), 200))
  router.openapi(updatePolicy, async (c) =>
    c.json(
      await audit.updateRetentionPolicy(ctx(c), c.req.valid('param').framework, c.req.valid('json')),
      200,
    ),
  )
  router.openapi(archives, async (c) => c.json(await audit.listArchives(ctx(c)), 200))
  router.openapi(runArchiving, async (c) => c.json(await audit.runArchiving(ctx(c)), 200))
  return router
}
