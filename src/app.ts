// createApp(deps): the whole HTTP surface. Middleware order: request id → client address →
// observe (in-flight, metrics, access log) → security headers → CORS → body limit (methods with a
// body) → lifecycle gate (wait while starting, Connection: close while draining) → authentication →
// Idempotency-Key (unsafe methods) → routes (permission, validation, handler); one error handler.
// Construction only stores references to deps (and reads config and build), so the OpenAPI
// document can be produced without opening any store (see openapi-document.ts).
import type { OpenAPIHono } from '@hono/zod-openapi'
import { cors } from 'hono/cors'
import { agentRoutes } from './agent/routes.ts'
import { auditRoutes } from './audit/routes.ts'
import { authenticate } from './auth/middleware.ts'
import { authRoutes } from './auth/routes.ts'
import { identityProviderRoutes } from './auth/sso/routes.ts'
import { ssoSignInRoutes } from './auth/sso/sign-in-routes.ts'
import { backupRoutes } from './backup/routes.ts'
import type { AppDeps } from './deps.ts'
import { clientAddress } from './http/client-address.ts'
import { docsUiRoutes } from './http/docs-ui.ts'
import { MethodNotAllowedError, NotFoundError, ServiceError } from './http/errors.ts'
import { hourlyPurge, isIdempotentCommitted } from './http/idempotency-commits.ts'
import { limitRequestBody } from './http/middleware/body-limit.ts'
import { idempotency, unsafeMethods } from './http/middleware/idempotency.ts'
import { lifecycleGate } from './http/middleware/lifecycle-gate.ts'
import { observeRequests } from './http/middleware/observe-requests.ts'
import { requestId } from './http/middleware/request-id.ts'
import { securityHeaders } from './http/middleware/security-headers.ts'
import { createRouter, idempotencyKeyParameter } from './http/openapi.ts'
import { applyRequestRules } from './http/openapi-rules.ts'
import { problemResponse, retryAfterOf, toProblem } from './http/problem.ts'
import { instancesRoutes } from './instances/routes.ts'
import { keysRoutes } from './keys/routes.ts'
import { metricsRoutes } from './metrics/routes.ts'
import { systemRoutes } from './system/routes.ts'

export const openApiInfo = {
  title: 'pgAnalytics API',
  description:
    'PostgreSQL fleet monitoring and operations. Errors are RFC 9457 problem+json with a stable `code`.',
  license: { name: 'Proprietary', identifier: 'LicenseRef-pgAnalytics' },
}

export function createApp(deps: AppDeps) {
  const { config } = deps
  const app = createRouter()

  app.use('*', requestId({ log: deps.log }))
  app.use('*', clientAddress({ trustedProxies: config.http.trustedProxies }))
  app.use('*', observeRequests({ lifecycle: deps.lifecycle, durations: deps.metrics.httpDurations }))
  app.use('*', securityHeaders())
  if (config.http.corsOrigins.length > 0) {
    app.use('*', cors({ origin: [...config.http.corsOrigins], exposeHeaders: ['X-Request-Id'] }))
  }
  app.use('*', limitRequestBody(config.http.bodyLimit))
  app.use('*', lifecycleGate(deps.lifecycle))
  // A fixed path asked with a method it does not serve is 405, even where a parameter route of
  // that method would take it: GET /api/v1/backups/trigger is not a backup id.
  let fixedPaths: Map<string, string[]> | undefined
  app.use('*', async (c, next) => {
    fixedPaths ??= methodsOfFixedPaths(app.routes)
    const allow = fixedPaths.get(c.req.path)
    if (!allow || allow.includes(c.req.method)) return next()
    const error = new MethodNotAllowedError(c.req.method, c.req.path, allow)
    return problemResponse(c, toProblem(c, error), { Allow: allow.join(', ') })
  })

  app.use(
    '*',
    authenticate({
      sessions: deps.auth.sessions,
      apiKeys: deps.auth.apiKeys,
      adminToken: deps.config.admin.token,
      db: deps.db.sql,
      state: deps.state,
      log: deps.log,
    }),
  )
  // After authentication: a key belongs to its principal. Only unsafe methods pass through it.
  app.on(
    [...unsafeMethods],
    '*',
    idempotency({
      state: deps.state,
      keyring: () => deps.keys.keyring(),
      log: deps.log,
      ttlMs: config.idempotency.ttlMs,
      waitMs: config.idempotency.waitMs,
      isCommitted: (scope) => isIdempotentCommitted(deps.db.sql, scope),
      onClaim: hourlyPurge(deps.db.sql, config.idempotency.ttlMs, deps.log),
    }),
  )
  app.openAPIRegistry.registerComponent('parameters', 'IdempotencyKey', idempotencyKeyParameter)
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description:
      'An access token from POST /api/v1/auth/login, or PGA_ADMIN_TOKEN (role admin, for automation). Each operation names the permission it needs in x-permission.',
  })
  app.route('/', authRoutes(deps))
  app.route('/', systemRoutes(deps))
  app.route('/', keysRoutes(deps))
  app.route('/', instancesRoutes(deps))
  app.route('/', metricsRoutes(deps))
  app.route('/', auditRoutes(deps))
  app.route('/', backupRoutes(deps))
  app.route('/', ssoSignInRoutes(deps))
  app.route('/', identityProviderRoutes(deps))
  app.route('/', agentRoutes(deps))
  app.route(
    '/',
    docsUiRoutes({ loadAsset: (name) => deps.assets.docsAsset(name), version: deps.build.version }),
  )

  let document: unknown
  app.get('/openapi.json', (c) => {
    document ??= openApiDocument(app, deps.build.version)
    return c.json(document)
  })

  let allowedMethods: ((path: string) => string[]) | undefined
  app.notFound((c) => {
    // A known path asked with another method is 405 with Allow (RFC 9110 15.5.6), not 404.
    allowedMethods ??= methodsByPath(app.routes)
    const allow = allowedMethods(c.req.path)
    // A route of this method whose parameter rule did not match (/docs/:file{...}) is a 404.
    const methodNotAllowed = allow.length > 0 && !allow.includes(c.req.method)
    const error = methodNotAllowed
      ? new MethodNotAllowedError(c.req.method, c.req.path, allow)
      : new NotFoundError(`No route for ${c.req.method} ${c.req.path}.`)
    return problemResponse(c, toProblem(c, error), methodNotAllowed ? { Allow: allow.join(', ') } : {})
  })
  app.onError((error, c) => {
    const problem = toProblem(c, error)
    if (problem.status >= 500 && !(error instanceof ServiceError)) {
      if (problem.status === 503)
        c.var.log?.warn('dependency unavailable', { code: problem.code, error: String(error) })
      else c.var.log?.error('unhandled error', { error, stack: (error as Error).stack })
    }
    const retryAfter = error instanceof ServiceError ? error.extra.retryAfterSeconds : retryAfterOf(problem)
    return problemResponse(c, problem, retryAfter === undefined ? {} : { 'Retry-After': String(retryAfter) })
  })
  return app
}

export type App = ReturnType<typeof createApp>

/** The methods each route pattern serves (HEAD with GET: Hono answers it from the GET route). */
function methodsByPattern(routes: { method: string; path: string }[]): Map<string, Set<string>> {
  const byPattern = new Map<string, Set<string>>()
  for (const route of routes) {
    // Middleware: every method (ALL) or a wildcard path (Idempotency-Key on unsafe methods).
    if (route.method === 'ALL' || route.path.includes('*')) continue
    const methods = byPattern.get(route.path) ?? new Set<string>()
    methods.add(route.method.toUpperCase())
    if (route.method.toUpperCase() === 'GET') methods.add('HEAD')
    byPattern.set(route.path, methods)
  }
  return byPattern
}

/** For a request path, the methods the app's routes serve on it (HEAD with GET: Hono answers it
 * from the GET route); none for a path no route matches. */
export function methodsByPath(routes: { method: string; path: string }[]): (path: string) => string[] {
  const byPattern = methodsByPattern(routes)
  const matchers = [...byPattern].map(([pattern, methods]) => {
    const source = pattern
      .split('/')
      .map((segment) => (segment.startsWith(':') ? '[^/]+' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
      .join('/')
    const literals = pattern.split('/').filter((segment) => !segment.startsWith(':')).length
    return { regex: new RegExp(`^${source}$`), methods, literals }
  })
  return (path) => {
    // The most specific paths only: /api/v1/backups/trigger is its own resource, not a backup id.
    const matching = matchers.filter(({ regex }) => regex.test(path))
    const most = Math.max(...matching.map(({ literals }) => literals))
    const allowed = new Set<string>()
    for (const { methods, literals } of matching)
      if (literals === most) for (const m of methods) allowed.add(m)
    return [...allowed].sort()
  }
}

/** The methods each path without parameters serves (HEAD with GET). */
export function methodsOfFixedPaths(routes: { method: string; path: string }[]): Map<string, string[]> {
  return new Map(
    [...methodsByPattern(routes)]
      .filter(([pattern]) => !pattern.includes(':'))
      .map(([pattern, methods]) => [pattern, [...methods].sort()]),
  )
}

/** The OpenAPI 3.1 document of the app's routes. */
export function openApiDocument(app: OpenAPIHono, version: string) {
  const document = app.getOpenAPI31Document({
    openapi: '3.1.0',
    info: { ...openApiInfo, version },
    servers: [{ url: '/', description: 'The replica serving this document' }],
    tags: [
      { name: 'Probes', description: 'Kubernetes / load-balancer probes.' },
      { name: 'System', description: 'Health, version, metrics and configuration of this replica.' },
      { name: 'Keys', description: 'Encryption at rest: data keys, rotation and re-encryption progress.' },
      {
        name: 'Instances',
        description: 'Monitored PostgreSQL instances: connection settings, tests and capabilities.',
      },
      {
        name: 'Backups',
        description:
          'Backups of monitored instances (physical, incremental, differential, logical), continuous WAL, point-in-time restores, drills, schedules and repositories.',
      },
      {
        name: 'Metrics',
        description:
          'Collected history: series, latest values, snapshots, top statements, reports, Prometheus.',
      },
      { name: 'Agent', description: 'Host metrics pushed by `pganalytics agent` from the database hosts.' },
    ],
  })
  return applyRequestRules(document)
}
