// Keyring admin API: status (keys and rewrap progress) and data-key rotation. Behind the admin
// token until roles exist.

import { createRoute } from '@hono/zod-openapi'
import { auditContextOf } from '../audit/http-context.ts'
import { secured } from '../auth/middleware.ts'
import type { AppDeps } from '../deps.ts'
import { createRouter, errorResponses, idempotent, jsonContent } from '../http/openapi.ts'
import type { RewrapRun } from './repo.ts'
import { KeyringReportSchema, RotationRequestSchema, RotationResultSchema } from './schemas.ts'

const getKeyring = createRoute({
  method: 'get',
  path: '/api/v1/admin/keys',
  operationId: 'getKeyring',
  tags: ['Keys'],
  summary: 'Data keys, their states and the progress of re-encryption',
  ...secured('keys:manage'),
  responses: {
    200: { description: 'The keyring.', content: jsonContent(KeyringReportSchema) },
    ...errorResponses(401, 403, 503),
  },
})

const rotateDataKey = createRoute({
  method: 'post',
  path: '/api/v1/admin/keys/rotate',
  operationId: 'rotateDataKey',
  tags: ['Keys'],
  summary: 'Create a new active data key',
  description:
    'The previous active key becomes decrypt-only at once; its values are re-encrypted in the background (see GET /api/v1/admin/keys), after which it is retired.',
  ...secured('keys:manage'),
  ...idempotent,
  request: { body: { required: true, content: jsonContent(RotationRequestSchema) } },
  responses: {
    201: { description: 'Rotated.', content: jsonContent(RotationResultSchema) },
    ...errorResponses(400, 401, 403, 409, 422, 503),
  },
})

const serializeRun = (run: (RewrapRun & { stalled: boolean }) | null) =>
  run && {
    ...run,
    startedAt: run.startedAt.toISOString(),
    updatedAt: run.updatedAt.toISOString(),
    finishedAt: run.finishedAt?.toISOString() ?? null,
    lastErrorAt: run.lastErrorAt?.toISOString() ?? null,
  }

export function keysRoutes(deps: AppDeps) {
  const router = createRouter()

  router.openapi(getKeyring, async (c) => {
    const report = await deps.keys.report()
    return c.json({ ...report, rewrap: serializeRun(report.rewrap) }, 200)
  })

  router.openapi(rotateDataKey, async (c) => {
    const previousVersion = deps.keys.keyring().activeVersion()
    const activeVersion = await deps.keys.rotate(c.req.valid('json').reason, auditContextOf(c))
    return c.json({ activeVersion, previousVersion, rewrap: 'started' as const }, 201)
  })
  return router
}
