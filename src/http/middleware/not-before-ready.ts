// While the replica is starting (migrations, keyring), the API answers 503 `starting` with
// Retry-After instead of running handlers on half-built services. The listener opens first so
// probes answer at once; a balancer without active health checks (nginx OSS) then retries the
// request on another replica (proxy_next_upstream http_503). Probes, health, version, metrics
// and the docs stay open.
import type { MiddlewareHandler } from 'hono'
import type { Lifecycle } from '../../system/lifecycle.ts'
import { UnavailableError } from '../errors.ts'

const alwaysOpen = new Set(['/api/v1/health', '/api/v1/version'])

export function notBeforeReady(lifecycle: Lifecycle): MiddlewareHandler {
  return async (c, next) => {
    if (lifecycle.phase === 'starting' && c.req.path.startsWith('/api/') && !alwaysOpen.has(c.req.path))
      throw new UnavailableError('starting', 'This replica is starting; retry in a moment.', 1)
    await next()
  }
}
