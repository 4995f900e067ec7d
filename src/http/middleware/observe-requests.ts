// Per-request bookkeeping in one place: in-flight count (graceful shutdown waits on it), the
// duration histogram by route and status, and one JSON access-log line (src/http/envelope.ts).
// The route label is the matched pattern (/api/v1/x/:id), never the raw path, so cardinality
// stays bounded.
import type { Context, MiddlewareHandler } from 'hono'
import { matchedRoutes } from 'hono/route'
import type { Histogram } from '../../platform/metrics/registry.ts'
import type { Lifecycle } from '../../system/lifecycle.ts'
import { recordRequest } from '../envelope.ts'

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
      recordRequest(options.durations, c.var.log, {
        method: c.req.method,
        route: routeLabel(c),
        path: c.req.path,
        status: c.res.status,
        seconds: (performance.now() - started) / 1000,
        client: () => c.var.clientAddress?.(),
      })
    }
  }
}
