// Read API over snapshots, and the Prometheus exposition of collected values. Behind the admin
// token until roles exist. Row arrays come from the store as JSON text and are sent as they are.
import { createRoute } from '@hono/zod-openapi'
import type { Context } from 'hono'
import { recordAuditEvent } from '../audit/events.ts'
import { auditContextOf } from '../audit/http-context.ts'
import { secured } from '../auth/middleware.ts'
import { allGroups } from '../collector/catalog/index.ts'
import type { AppDeps } from '../deps.ts'
import { BadRequestError } from '../http/errors.ts'
import { createRouter, errorResponses, jsonContent } from '../http/openapi.ts'
import { prometheusContentType } from '../platform/metrics/registry.ts'
import { defaultExportedGroups, exportableGroups, renderInstanceMetrics } from './prometheus.ts'
import {
  ExpositionQuery,
  GroupParams,
  InstanceParams,
  LatestSchema,
  MetricGroupListSchema,
  ReportQuery,
  ReportSchema,
  SeriesQuery,
  SeriesSchema,
  SnapshotListSchema,
  SnapshotsQuery,
  TopStatementsQuery,
  TopStatementsSchema,
} from './schemas.ts'
import * as metrics from './service.ts'

const tags = ['Metrics']

const groups = createRoute({
  method: 'get',
  path: '/api/v1/metric-groups',
  operationId: 'listMetricGroups',
  tags,
  ...secured('metrics:read'),
  summary: 'The metric catalog: groups, columns, intervals, sources',
  responses: {
    200: { description: 'Groups.', content: jsonContent(MetricGroupListSchema) },
    ...errorResponses(401, 403),
  },
})
const series = createRoute({
  method: 'get',
  path: '/api/v1/instances/{id}/metrics/{group}',
  operationId: 'getMetricSeries',
  tags,
  ...secured('metrics:read'),
  summary: 'History of a metric group: raw, deltas or rates',
  request: { params: GroupParams, query: SeriesQuery },
  responses: {
    200: { description: 'Rows in time order per series.', content: jsonContent(SeriesSchema) },
    ...errorResponses(400, 401, 403, 404),
  },
})
const latest = createRoute({
  method: 'get',
  path: '/api/v1/instances/{id}/metrics/{group}/latest',
  operationId: 'getLatestMetrics',
  tags,
  ...secured('metrics:read'),
  summary: 'The newest collected rows of a group',
  request: { params: GroupParams },
  responses: {
    200: { description: 'Rows of the newest snapshot.', content: jsonContent(LatestSchema) },
    ...errorResponses(400, 401, 403, 404),
  },
})
const snapshots = createRoute({
  method: 'get',
  path: '/api/v1/instances/{id}/snapshots',
  operationId: 'listSnapshots',
  tags,
  ...secured('metrics:read'),
  summary: 'Collections of an instance, newest first, with failures and their reasons',
  request: { params: InstanceParams, query: SnapshotsQuery },
  responses: {
    200: { description: 'Snapshots.', content: jsonContent(SnapshotListSchema) },
    ...errorResponses(400, 401, 403, 404),
  },
})
const topStatements = createRoute({
  method: 'get',
  path: '/api/v1/instances/{id}/statements/top',
  operationId: 'topStatements',
  tags,
  ...secured('metrics:read_query_text'),
  summary: 'Top statements in a window by total time, calls, mean time or I/O',
  request: { params: InstanceParams, query: TopStatementsQuery },
  responses: {
    200: {
      description: 'Statements with their increase over the window.',
      content: jsonContent(TopStatementsSchema),
    },
    ...errorResponses(400, 401, 403, 404),
  },
})
const report = createRoute({
  method: 'get',
  path: '/api/v1/instances/{id}/report',
  operationId: 'compareReport',
  tags,
  ...secured('metrics:read_query_text'),
  summary: 'Comparison of two points in time (pg_profile-style report)',
  request: { params: InstanceParams, query: ReportQuery },
  responses: {
    200: { description: 'What happened between the two points.', content: jsonContent(ReportSchema) },
    ...errorResponses(400, 401, 403, 404),
  },
})
const exposition = createRoute({
  method: 'get',
  path: '/metrics/instances',
  operationId: 'instanceMetricsExposition',
  tags,
  ...secured('metrics:read'),
  summary: 'Latest collected values of every instance, in Prometheus text format',
  request: { query: ExpositionQuery },
  responses: {
    200: {
      description: 'Prometheus text exposition 0.0.4.',
      content: { 'text/plain': { schema: { type: 'string' } } },
    },
    ...errorResponses(400, 401, 403),
  },
})

/** `{...head, "rows": <json text>}` without parsing the rows. */
function withRows(c: Context, head: object, rowsJson: string) {
  const text = `${JSON.stringify(head).slice(0, -1)},"rows":${rowsJson}}`
  return c.body(text, 200, { 'Content-Type': 'application/json' }) as never
}

export function metricsRoutes(deps: AppDeps) {
  const router = createRouter()
  const ctx = () => ({ db: deps.db.sql, keyring: deps.keys.keyring(), now: deps.clock.now() })

  router.openapi(groups, (c) =>
    c.json(
      {
        items: allGroups.map((g) => ({
          name: g.name,
          scope: g.scope,
          source: g.agentSource ? ('agent' as const) : ('collector' as const),
          help: g.help,
          defaultIntervalSeconds: g.defaultIntervalSeconds,
          defaultRetentionDays: deps.config.collector.retentionDays[g.name] ?? g.defaultRetentionDays,
          privileges: g.privileges,
          sources: g.agentSource ? [g.agentSource] : g.variants.map((v) => v.source),
          columns: g.columns.map(({ name, type, kind, unit, help }) => ({
            name,
            type,
            kind,
            unit: unit ?? null,
            help,
          })),
        })),
      },
      200,
    ),
  )
  router.openapi(series, async (c) => {
    const { id, group } = c.req.valid('param')
    const result = await metrics.metricSeries(ctx(), id, group, c.req.valid('query'))
    return withRows(c, result.head, result.rowsJson)
  })
  router.openapi(latest, async (c) => {
    const { id, group } = c.req.valid('param')
    const result = await metrics.latestMetrics(ctx(), id, group)
    return withRows(c, result.head, result.rowsJson)
  })
  router.openapi(snapshots, async (c) =>
    c.json(await metrics.listSnapshots(ctx(), c.req.valid('param').id, c.req.valid('query')), 200),
  )
  router.openapi(topStatements, async (c) => {
    const id = c.req.valid('param').id
    const result = await metrics.topStatements(ctx(), id, c.req.valid('query'))
    // Query texts can carry sensitive data (HIPAA, PCI-DSS 10.2.1.1): who read them is recorded.
    await recordAuditEvent(deps.db.sql, auditContextOf(c), {
      eventType: 'metrics.statements_read',
      resourceType: 'instance',
      resourceId: id,
      action: 'read',
      changes: { from: result.from, to: result.to, statements: result.items.length },
    })
    return c.json(result, 200)
  })
  router.openapi(report, async (c) => {
    const id = c.req.valid('param').id
    const result = await metrics.compareReport(ctx(), id, c.req.valid('query'))
    await recordAuditEvent(deps.db.sql, auditContextOf(c), {
      eventType: 'metrics.report_read',
      resourceType: 'instance',
      resourceId: id,
      action: 'read',
      changes: { from: result.from, to: result.to },
    })
    return c.json(result, 200)
  })
  router.openapi(exposition, async (c) => {
    const requested = c.req.valid('query').groups?.split(',') ?? defaultExportedGroups
    const unknown = requested.filter((g) => !exportableGroups.includes(g))
    if (unknown.length > 0)
      throw new BadRequestError(
        'unknown_metric_group',
        `Not exportable: ${unknown.join(', ')}; exportable: ${exportableGroups.join(', ')}.`,
        [{ path: 'query.groups', message: `unknown or not exportable: ${unknown.join(', ')}` }],
      )
    return c.body(await renderInstanceMetrics(deps.db.sql, requested), 200, {
      'Content-Type': prometheusContentType,
    }) as never
  })
  return router
}
