// The pieces of the service's request path, one at a time, for bench/http-breakdown.ts (in
// process) and bench/http-ablation.ts (over HTTP): its middleware (from src/, with the options
// src/app.ts gives them), the zod-openapi route of POST /api/v1/config/check and its handler,
// Hono apps built from them, and the variants of the ablation server.
import { createRoute, OpenAPIHono } from '@hono/zod-openapi'
import { Hono, type MiddlewareHandler } from 'hono'
import { limitRequestBody } from '../src/http/middleware/body-limit.ts'
import { observeRequests } from '../src/http/middleware/observe-requests.ts'
import { requestId } from '../src/http/middleware/request-id.ts'
import { securityHeaders } from '../src/http/middleware/security-headers.ts'
import { createLogger } from '../src/platform/log.ts'
import { MetricsRegistry } from '../src/platform/metrics/registry.ts'
import { checkProposedConfig } from '../src/system/config-check.ts'
import { Lifecycle } from '../src/system/lifecycle.ts'
import { ConfigCheckRequestSchema } from '../src/system/schemas.ts'

export const configCheckBody = JSON.stringify({
  env: {
    PGA_PORT: '8080',
    PGA_LOG_LEVEL: 'info',
    DATABASE_URL: 'postgres://u:p@db:5432/x',
    PGA_MASTER_KEY: 'q2V4cGxhaW5lZC1leGFtcGxlLWtleS0zMi1ieXRlcyE=',
  },
})

export type Piece = 'requestId' | 'observeRequests' | 'securityHeaders' | 'bodyLimit'

/** The service's middleware, in the order of src/app.ts (no CORS: off by default). */
export function serviceMiddleware(
  pieces: Piece[] = ['requestId', 'observeRequests', 'securityHeaders', 'bodyLimit'],
) {
  const log = createLogger({ level: 'warn', write: () => {} })
  const lifecycle = new Lifecycle(Date.now())
  lifecycle.markReady()
  const durations = new MetricsRegistry().histogram(
    'pga_http_request_duration_seconds',
    'Duration of HTTP requests by method, matched route and status.',
    [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  )
  const all: Record<Piece, MiddlewareHandler> = {
    requestId: requestId({ log }),
    observeRequests: observeRequests({ lifecycle, durations }),
    securityHeaders: securityHeaders(),
    bodyLimit: limitRequestBody(1_048_576),
  }
  // observeRequests logs through c.var.log, which requestId sets.
  const chosen =
    pieces.includes('observeRequests') && !pieces.includes('requestId') ? ['requestId', ...pieces] : pieces
  const order: Piece[] = ['requestId', 'observeRequests', 'securityHeaders', 'bodyLimit']
  return order.filter((p) => chosen.includes(p)).map((p) => all[p])
}

export const configCheckRoute = (path = '/') =>
  createRoute({
    method: 'post',
    path,
    request: {
      body: { required: true, content: { 'application/json': { schema: ConfigCheckRequestSchema } } },
    },
    responses: { 200: { description: 'ok' } },
  })

/** GET `path` answering {"status":"ok"} (what /livez answers) behind the given middleware. */
export function getJsonApp(middleware: MiddlewareHandler[], path = '/') {
  const app = new Hono()
  for (const m of middleware) app.use('*', m)
  return app.get(path, (c) => c.json({ status: 'ok' }))
}

/**
 * POST `path` with the config-check body: `validator` puts the zod-openapi route in front (as the
 * service does); `handler` answers with checkProposedConfig (as the service does) instead of
 * echoing the body.
 */
export function postApp(
  middleware: MiddlewareHandler[],
  options: { validator: boolean; handler: boolean },
  path = '/',
) {
  if (options.validator) {
    const app = new OpenAPIHono()
    for (const m of middleware) app.use('*', m)
    app.openapi(configCheckRoute(path), (c) => {
      const body = c.req.valid('json')
      return c.json(options.handler ? checkProposedConfig(body) : body, 200)
    })
    return app
  }
  const app = new Hono()
  for (const m of middleware) app.use('*', m)
  return app.post(path, async (c) => {
    const body = (await c.req.json()) as { env: Record<string, string> }
    return c.json(options.handler ? checkProposedConfig(body) : body)
  })
}

type Fetch = (request: Request) => Response | Promise<Response>
type Variant = { method: 'GET' | 'POST'; what: string; app: (path: string) => { fetch: Fetch } }

/** The variants bench/http-ablation.ts serves, each on /<name>. */
export const ablationVariants: Record<string, Variant> = {
  'get-json': { method: 'GET', what: 'Hono, no middleware', app: (p) => getJsonApp([], p) },
  'get-request-id': {
    method: 'GET',
    what: '+ requestId',
    app: (p) => getJsonApp(serviceMiddleware(['requestId']), p),
  },
  'get-observe': {
    method: 'GET',
    what: '+ requestId + observeRequests',
    app: (p) => getJsonApp(serviceMiddleware(['requestId', 'observeRequests']), p),
  },
  'get-security-headers': {
    method: 'GET',
    what: '+ securityHeaders',
    app: (p) => getJsonApp(serviceMiddleware(['securityHeaders']), p),
  },
  'get-body-limit': {
    method: 'GET',
    what: '+ bodyLimit',
    app: (p) => getJsonApp(serviceMiddleware(['bodyLimit']), p),
  },
  'get-all': {
    method: 'GET',
    what: '+ all four (the service stack)',
    app: (p) => getJsonApp(serviceMiddleware(), p),
  },
  'post-echo': {
    method: 'POST',
    what: 'Hono echo, no middleware',
    app: (p) => postApp([], { validator: false, handler: false }, p),
  },
  'post-handler': {
    method: 'POST',
    what: 'Hono + checkProposedConfig, no validator',
    app: (p) => postApp([], { validator: false, handler: true }, p),
  },
  'post-validator': {
    method: 'POST',
    what: 'zod-openapi route, echo',
    app: (p) => postApp([], { validator: true, handler: false }, p),
  },
  'post-validator-handler': {
    method: 'POST',
    what: 'zod-openapi route + checkProposedConfig',
    app: (p) => postApp([], { validator: true, handler: true }, p),
  },
  'post-all-echo': {
    method: 'POST',
    what: 'the service stack + zod-openapi route, echo (framework cost of a validated route)',
    app: (p) => postApp(serviceMiddleware(), { validator: true, handler: false }, p),
  },
  'post-all': {
    method: 'POST',
    what: 'the service stack + route + handler',
    app: (p) => postApp(serviceMiddleware(), { validator: true, handler: true }, p),
  },
}
