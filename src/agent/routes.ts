// The agent's push: POST /api/v1/agent/metrics with an agent API key bound to the instance. Host
// metrics are data, not changes: a push writes no audit event (docs/AGENT.md says why); a push for
// another instance is refused and recorded as auth.access_denied. Counted on /metrics.
import { createRoute } from '@hono/zod-openapi'
import { principalOf, secured } from '../auth/middleware.ts'
import type { AppDeps } from '../deps.ts'
import { ForbiddenError } from '../http/errors.ts'
import { createRouter, errorResponses, jsonContent } from '../http/openapi.ts'
import type { MetricsRegistry } from '../platform/metrics/registry.ts'
import { checkAgentBinding, ingestBatch } from './ingest.ts'
import { AgentBatchResultSchema, AgentBatchSchema } from './schemas.ts'

const push = createRoute({
  method: 'post',
  path: '/api/v1/agent/metrics',
  operationId: 'pushAgentMetrics',
  tags: ['Agent'],
  ...secured('agent:push'),
  summary:
    'Push a batch of host metrics (pganalytics agent); a batch already stored is acknowledged, not stored again',
  request: { body: { required: true, content: jsonContent(AgentBatchSchema) } },
  responses: {
    200: {
      description: 'Stored, or a duplicate of a stored batch.',
      content: jsonContent(AgentBatchResultSchema),
    },
    ...errorResponses(400, 401, 403, 413),
  },
})

function createAgentMetrics(registry: MetricsRegistry) {
  return {
    batches: registry.counter(
      'pga_agent_batches_total',
      'Agent batches received, by status (stored, duplicate, refused).',
    ),
    rows: registry.counter('pga_agent_rows_total', 'Host metric rows stored from agent batches.'),
    duration: registry.histogram(
      'pga_agent_ingest_duration_seconds',
      'Time to store one agent batch.',
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    ),
  }
}
/** Registered on first use (building the app does no I/O), once per registry. */
const metricsByRegistry = new WeakMap<MetricsRegistry, ReturnType<typeof createAgentMetrics>>()
const agentMetrics = (registry: MetricsRegistry) => {
  let metrics = metricsByRegistry.get(registry)
  if (!metrics) {
    metrics = createAgentMetrics(registry)
    metricsByRegistry.set(registry, metrics)
  }
  return metrics
}

export function agentRoutes(deps: AppDeps) {
  const router = createRouter()
  router.openapi(push, async (c) => {
    const metrics = agentMetrics(deps.metrics.registry)
    const batch = c.req.valid('json')
    try {
      checkAgentBinding(principalOf(c), batch.instanceId)
    } catch (error) {
      if (error instanceof ForbiddenError) {
        metrics.batches.inc({ status: 'refused' })
        await c.get('auth').denied(c, 'agent:push')
      }
      throw error
    }
    const started = performance.now()
    const result = await ingestBatch(
      { db: deps.db.sql, collector: deps.config.collector, now: deps.clock.now() },
      batch,
    )
    metrics.duration.observe((performance.now() - started) / 1000)
    metrics.batches.inc({ status: result.status })
    if (result.rows > 0) metrics.rows.inc({}, result.rows)
    return c.json(result, 200)
  })
  return router
}
