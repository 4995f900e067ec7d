// Instances API: CRUD and connection test. Behind the admin token until roles exist.
import { createRoute } from '@hono/zod-openapi'
import type { Context } from 'hono'
import { auditContextOf } from '../audit/http-context.ts'
import { secured } from '../auth/middleware.ts'
import type { AppDeps } from '../deps.ts'
import { createRouter, errorResponses, idempotent, jsonContent, problemContent } from '../http/openapi.ts'
import {
  ConnectionTestSchema,
  CreateQuery,
  InstanceIdParams,
  InstanceInputSchema,
  InstanceListSchema,
  InstanceSchema,
  InstanceUpdateSchema,
} from './schemas.ts'
import * as instances from './service.ts'

const tags = ['Instances']
const failedTest = {
  422: {
    description:
      'The connection test failed; `code` says why: instance_host_not_allowed (PGA_INSTANCE_HOSTS_ALLOW/_DENY refuse the host as written or an address it resolves to; nothing was connected to), connection_dns, connection_refused, connection_timeout (no complete answer within PGA_COLLECTOR_CONNECT_TIMEOUT), connection_protocol_error (the server does not speak PostgreSQL), connection_auth, connection_tls, connection_database_missing, connection_privilege, connection_other. Or `idempotency_key_reused`: the Idempotency-Key was used for another request.',
    content: problemContent,
  },
}

const hostRefused = {
  422: {
    description:
      '`instance_host_not_allowed`: PGA_INSTANCE_HOSTS_ALLOW/_DENY refuse the new host as written (the detail names the rule). Or `idempotency_key_reused`: the Idempotency-Key was used for another request.',
    content: problemContent,
  },
}

const list = createRoute({
  method: 'get',
  path: '/api/v1/instances',
  operationId: 'listInstances',
  tags,
  ...secured('instances:read'),
  summary: 'List monitored instances',
  responses: {
    200: { description: 'Instances.', content: jsonContent(InstanceListSchema) },
    ...errorResponses(401, 403),
  },
})
const create = createRoute({
  method: 'post',
  path: '/api/v1/instances',
  operationId: 'createInstance',
  tags,
  ...secured('instances:write'),
  ...idempotent,
  summary: 'Add an instance (tests the connection first)',
  request: { query: CreateQuery, body: { required: true, content: jsonContent(InstanceInputSchema) } },
  responses: {
    201: { description: 'Created.', content: jsonContent(InstanceSchema) },
    ...failedTest,
    ...errorResponses(400, 401, 403, 409, 413),
  },
})
const get = createRoute({
  method: 'get',
  path: '/api/v1/instances/{id}',
  operationId: 'getInstance',
  tags,
  ...secured('instances:read'),
  summary: 'One instance',
  request: { params: InstanceIdParams },
  responses: {
    200: { description: 'The instance.', content: jsonContent(InstanceSchema) },
    ...errorResponses(400, 401, 403, 404),
  },
})
const update = createRoute({
  method: 'patch',
  path: '/api/v1/instances/{id}',
  operationId: 'updateInstance',
  tags,
  ...secured('instances:write'),
  summary: 'Change an instance',
  request: { params: InstanceIdParams, body: { required: true, content: jsonContent(InstanceUpdateSchema) } },
  responses: {
    200: { description: 'Updated.', content: jsonContent(InstanceSchema) },
    ...hostRefused,
    ...errorResponses(400, 401, 403, 404, 409, 413),
  },
})
const remove = createRoute({
  method: 'delete',
  path: '/api/v1/instances/{id}',
  operationId: 'deleteInstance',
  tags,
  ...secured('instances:write'),
  summary: 'Remove an instance',
  request: { params: InstanceIdParams },
  responses: { 204: { description: 'Removed.' }, ...errorResponses(400, 401, 403, 404) },
})
const test = createRoute({
  method: 'post',
  path: '/api/v1/instances/{id}/test-connection',
  operationId: 'testInstanceConnection',
  tags,
  ...secured('instances:write'),
  ...idempotent,
  summary: 'Connect, probe capabilities and record them',
  request: { params: InstanceIdParams },
  responses: {
    200: { description: 'Connected.', content: jsonContent(ConnectionTestSchema) },
    ...failedTest,
    ...errorResponses(400, 401, 403, 404, 409),
  },
})

export function instancesRoutes(deps: AppDeps) {
  const router = createRouter()
  const ctx = (c: Context) => ({
    db: deps.db.sql,
    keyring: deps.keys.keyring(),
    connectTimeoutMs: deps.config.collector.connectTimeoutMs,
    hostPolicy: deps.hostPolicy,
    audit: auditContextOf(c),
  })

  router.openapi(list, async (c) => c.json({ items: await instances.listInstances(ctx(c)) }, 200))
  router.openapi(create, async (c) =>
    c.json(
      await instances.createInstance(ctx(c), c.req.valid('json'), {
        test: c.req.valid('query').test === 'true',
      }),
      201,
    ),
  )
  router.openapi(get, async (c) => c.json(await instances.getInstance(ctx(c), c.req.valid('param').id), 200))
  router.openapi(update, async (c) =>
    c.json(await instances.updateInstance(ctx(c), c.req.valid('param').id, c.req.valid('json')), 200),
  )
  router.openapi(remove, async (c) => {
    await instances.deleteInstance(ctx(c), c.req.valid('param').id)
    return c.body(null, 204)
  })
  router.openapi(test, async (c) =>
    c.json(await instances.testInstanceConnection(ctx(c), c.req.valid('param').id), 200),
  )
  return router
}
