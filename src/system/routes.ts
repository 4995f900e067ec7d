// Probe, health, version, metrics and config-check endpoints. Thin: each calls one function.
import { createRoute, z } from '@hono/zod-openapi'
import type { AppDeps } from '../deps.ts'
import { NotFoundError } from '../http/errors.ts'
import { createRouter, errorResponses, jsonContent } from '../http/openapi.ts'
import { prometheusContentType } from '../platform/metrics/registry.ts'
import { checkProposedConfig } from './config-check.ts'
import { checkHealth } from './health.ts'
import {
  ConfigCheckRequestSchema,
  ConfigCheckResultSchema,
  HealthSchema,
  LivenessSchema,
  ReadinessSchema,
  VersionSchema,
} from './schemas.ts'

const livez = createRoute({
  method: 'get',
  path: '/livez',
  operationId: 'getLiveness',
  security: [],
  tags: ['Probes'],
  summary: 'Liveness: the process answers',
  description: 'Never checks dependencies, so a database outage does not get replicas restarted.',
  responses: { 200: { description: 'Alive.', content: jsonContent(LivenessSchema) } },
})

/** The liveness answer; the serving app gives it before the pipeline (src/http/constant-answers.ts). */
export const livenessAnswer = { status: 'ok' as const }

const readyz = createRoute({
  method: 'get',
  path: '/readyz',
  operationId: 'getReadiness',
  security: [],
  tags: ['Probes'],
  summary: 'Readiness: accept traffic?',
  description: '503 while starting, while draining after SIGTERM, or when the store or state store is down.',
  responses: {
    200: { description: 'Ready.', content: jsonContent(ReadinessSchema) },
    503: { description: 'Not ready.', content: jsonContent(ReadinessSchema) },
  },
})

const health = createRoute({
  method: 'get',
  path: '/api/v1/health',
  operationId: 'getHealth',
  security: [],
  tags: ['System'],
  summary: 'Health of this replica and its dependencies',
  responses: {
    200: { description: 'Healthy.', content: jsonContent(HealthSchema) },
    503: { description: 'A dependency is down.', content: jsonContent(HealthSchema) },
  },
})

const version = createRoute({
  method: 'get',
  path: '/api/v1/version',
  operationId: 'getVersion',
  security: [],
  tags: ['System'],
  summary: 'Version, git revision and runtime of this replica',
  responses: { 200: { description: 'Build information.', content: jsonContent(VersionSchema) } },
})

const metrics = createRoute({
  method: 'get',
  path: '/metrics',
  operationId: 'getMetrics',
  security: [],
  tags: ['System'],
  summary: 'Prometheus metrics of this replica',
  responses: {
    200: {
      description: 'Prometheus text exposition format 0.0.4.',
      content: { 'text/plain': { schema: z.string() } },
    },
    404: errorResponses(404)[404],
  },
})

const configCheck = createRoute({
  method: 'post',
  path: '/api/v1/config/check',
  operationId: 'checkConfig',
  security: [],
  tags: ['System'],
  summary: 'Validate a proposed environment before deploying it',
  description:
    'Parses the given variables with the schema the service uses at start-up. Invalid values give 400 with one `errors` entry per variable.',
  request: { body: { required: true, content: jsonContent(ConfigCheckRequestSchema) } },
  responses: {
    200: {
      description: 'Valid; the parsed configuration with secrets redacted.',
      content: jsonContent(ConfigCheckResultSchema),
    },
    ...errorResponses(400, 413),
  },
})

export function systemRoutes(deps: AppDeps) {
  const router = createRouter()

  router.openapi(livez, (c) => c.json(livenessAnswer, 200))

  router.openapi(readyz, async (c) => {
    const phase = deps.lifecycle.phase
    if (phase !== 'ready') return c.json({ ready: false, phase }, 503)
    const report = await checkHealth(deps)
    const ready = report.status === 'ok'
    if (ready) deps.lifecycle.readinessAnswered()
    return c.json({ ready, phase, checks: report.checks }, ready ? 200 : 503)
  })

  router.openapi(health, async (c) => {
    const report = await checkHealth(deps)
    const body = {
      ...report,
      phase: deps.lifecycle.phase,
      singleReplicaOnly: !deps.db.shared || !deps.state.shared,
      uptimeSeconds: Math.round((deps.clock.now() - deps.lifecycle.startedAt) / 1000),
    }
    return c.json(body, report.status === 'ok' ? 200 : 503)
  })

  router.openapi(version, (c) => c.json({ ...deps.build, apiVersion: 'v1' as const }, 200))

  router.openapi(metrics, async (c) => {
    if (!deps.config.metrics.enabled)
      throw new NotFoundError('Metrics are disabled (PGA_METRICS_ENABLED=false).')
    return c.text(await deps.metrics.registry.render(), 200, { 'Content-Type': prometheusContentType })
  })

  router.openapi(configCheck, (c) => c.json(checkProposedConfig(c.req.valid('json')), 200))

  return router
}
