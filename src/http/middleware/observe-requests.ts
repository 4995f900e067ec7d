// Per-request bookkeeping in one place: in-flight count (graceful shutdown waits on it), the
// duration histogram by route and status, and one JSON access-log line. The route label is the
// matched pattern (/api/v1/x/:id), never the raw path, so cardinality stays bounded.
import type { Context, MiddlewareHandler } from 'hono'
import { matchedRoutes } from 'hono/route'
import type { Histogram } from '../../platform/metrics/registry.ts'
import type { Lifecycle } from '../../system/lifecycle.ts'

/** The route pattern that answered, or "unmatched" (404s, preflights). */
export function routeLabel(c: Context): string {
  // Middleware are mounted on `*` (Hono's `/*`), for all methods or the unsafe ones: not a route.
  const route = matchedRoutes(c).findLast((r) => r.method !== 'ALL' && r.path !== '/*')
  return route ? route.path : 'unmatched'
}

export function observeRequests(options: { lifecycle: Lifecycle; durations: Histogram }): MiddlewareHandler {
  return async (c, next) => {
    const started = performance.now()
    options.lifecycle.requestStarted()
    try {
      await next()
    } finally {
      options.lifecycle.requestFinished()
      const seconds = (performance.now() - started) / 1000
      const route = routeLabel(c)
      const status = c.res.status
      const method = c.req.method
      options.durations.observeKeyed(seconds, `${method} ${status} ${route}`, () => ({
        method,
        route,
        status: String(status),
      }))
      // 503 is an expected answer (starting, draining, a dependency down), not a fault.
      const level = status >= 500 && status !== 503 ? 'error' : status === 503 ? 'warn' : 'info'
      if (c.var.log.enabled(level)) {
        c.var.log[level]('request', {
          method: c.req.method,
          route,
          path: c.req.path,
          status,
          client: c.var.clientAddress?.(),
          durationMs: Math.round(seconds * 100_000) / 100,
        })
      }
    }
  }
}
