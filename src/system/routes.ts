// Probe, health, version, metrics and config-check endpoints as OpenAPI routes of the whole API.
// Thin: each calls one function (the probes app serves the same answers without zod:
// src/system/probe-answers.ts, src/probes-app.ts).
import { createRoute, z } from '@hono/zod-openapi'
import type { AppDeps } from '../deps.ts'
import { createRouter, errorResponses, jsonContent } from '../http/openapi.ts'
import { prometheusContentType } from '../platform/metrics/registry.ts'
import { checkProposedConfig } from './config-check.ts'
import { healthReport, livenessAnswer, metricsText, readiness, versionAnswer } from './probe-answers.ts'
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
    const { ready, body } = await readiness(deps)
    return ready ? c.json(body, 200) : c.json(body, 503)
  })

  router.openapi(health, async (c) => {
    const { ok, body } = await healthReport(deps)
    return ok ? c.json(body, 200) : c.json(body, 503)
  })

  router.openapi(version, (c) => c.json(versionAnswer(deps), 200))

  router.openapi(metrics, async (c) =>
    c.text(await metricsText(deps), 200, { 'Content-Type': prometheusContentType }),
  )

  router.openapi(configCheck, (c) => c.json(checkProposedConfig(c.req.valid('json')), 200))

  return router
}
