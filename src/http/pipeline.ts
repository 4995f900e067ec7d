// What every request passes before and after its route, built once per process and installed on
// each app that serves: the probes app answers from the start, each capability's app once it has
// loaded (src/serving-app.ts), or the whole API (createApp). Order: request id → client address →
// observe (in-flight, metrics, access log) → security headers → CORS → body limit (methods with a
// body) → lifecycle gate (wait while starting, Connection: close while draining) → 405 on fixed
// paths → authentication → Idempotency-Key (unsafe methods) → routes (permission, validation,
// handler); one error handler.
import type { Hono } from 'hono'
import { cors } from 'hono/cors'
import { authenticate } from '../auth/middleware.ts'
import type { AppDeps } from '../deps.ts'
import { clientAddress } from './client-address.ts'
import { MethodNotAllowedError, NotFoundError, ServiceError } from './errors.ts'
import { hourlyPurge, isIdempotentCommitted } from './idempotency-commits.ts'
import { limitRequestBody } from './middleware/body-limit.ts'
import { idempotency, unsafeMethods } from './middleware/idempotency.ts'
import { lifecycleGate } from './middleware/lifecycle-gate.ts'
import { observeRequests } from './middleware/observe-requests.ts'
import { requestId } from './middleware/request-id.ts'
import { securityHeaders } from './middleware/security-headers.ts'
import { problemResponse, retryAfterOf, toProblem } from './problem.ts'

/** Installs the pipeline on an app: the probes app (plain Hono) or the whole API (OpenAPIHono,
 * which also registers the pipeline's OpenAPI components: src/http/openapi.ts). */
// biome-ignore lint/suspicious/noExplicitAny: any app, whatever its routes' types
export type InstallPipeline = (app: Hono<any, any, any>) => void

type RouteEntry = { method: string; path: string }

/** The middleware (one instance each, whatever the number of apps) and the not-found and error
 * handlers; the result installs them on an app before its routes are added. 404 and 405 (with
 * Allow) follow the app's own routes, or `knownRoutes` when given: `serve` splits the API into
 * apps that each hold a part of it (src/serving-app.ts), and a method one app lacks on a path
 * may be another's. */
export function requestPipeline(
  deps: AppDeps,
  options: { knownRoutes?: () => RouteEntry[] } = {},
): InstallPipeline {
  const { config } = deps
  const before = [
    requestId({ log: deps.log }),
    clientAddress({ trustedProxies: config.http.trustedProxies }),
    observeRequests({ lifecycle: deps.lifecycle, durations: deps.metrics.httpDurations }),
    securityHeaders(),
    ...(config.http.corsOrigins.length > 0
      ? [cors({ origin: [...config.http.corsOrigins], exposeHeaders: ['X-Request-Id'] })]
      : []),
    limitRequestBody(config.http.bodyLimit),
    lifecycleGate(deps.lifecycle),
  ]
  const authentication = authenticate({
    sessions: deps.auth.sessions,
    apiKeys: deps.auth.apiKeys,
    adminToken: deps.config.admin.token,
    db: deps.db.sql,
    state: deps.state,
    log: deps.log,
  })
  const idempotencyKeys = idempotency({
    state: deps.state,
    keyring: () => deps.keys.keyring(),
    log: deps.log,
    ttlMs: config.idempotency.ttlMs,
    waitMs: config.idempotency.waitMs,
    isCommitted: (scope) => isIdempotentCommitted(deps.db.sql, scope),
    onClaim: hourlyPurge(deps.db.sql, config.idempotency.ttlMs, deps.log),
  })

  const routesFor = (app: { routes: RouteEntry[] }) => options.knownRoutes?.() ?? app.routes

  return (app) => {
    for (const middleware of before) app.use('*', middleware)
    // A fixed path asked with a method it does not serve is 405, even where a parameter route of
    // that method would take it: GET /api/v1/backups/trigger is not a backup id.
    let fixedPaths: Map<string, string[]> | undefined
    app.use('*', async (c, next) => {
      fixedPaths ??= methodsOfFixedPaths(routesFor(app))
      const allow = fixedPaths.get(c.req.path)
      if (!allow || allow.includes(c.req.method)) return next()
      const error = new MethodNotAllowedError(c.req.method, c.req.path, allow)
      return problemResponse(c, toProblem(c, error), { Allow: allow.join(', ') })
    })
    app.use('*', authentication)
    // After authentication: a key belongs to its principal. Only unsafe methods pass through it.
    app.on([...unsafeMethods], '*', idempotencyKeys)

    let allowedMethods: ((path: string) => string[]) | undefined
    app.notFound((c) => {
      // A known path asked with another method is 405 with Allow (RFC 9110 15.5.6), not 404.
      allowedMethods ??= methodsByPath(routesFor(app))
      const allow = allowedMethods(c.req.path)
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
      return problemResponse(
        c,
        problem,
        retryAfter === undefined ? {} : { 'Retry-After': String(retryAfter) },
      )
    })
  }
}

/** The methods each route pattern serves (HEAD with GET: Hono answers it from the GET route). */
function methodsByPattern(routes: RouteEntry[]): Map<string, Set<string>> {
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
export function methodsByPath(routes: RouteEntry[]): (path: string) => string[] {
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
export function methodsOfFixedPaths(routes: RouteEntry[]): Map<string, string[]> {
  return new Map(
    [...methodsByPattern(routes)]
      .filter(([pattern]) => !pattern.includes(':'))
      .map(([pattern, methods]) => [pattern, [...methods].sort()]),
  )
}
