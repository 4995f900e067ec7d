// While the replica is starting (migrations, keyring), an API request waits for it to be ready
// (up to `waitMs`), then runs; if start-up takes longer it answers 503 `starting` with
// Retry-After. The listener opens first so probes answer at once, and a balancer without active
// health checks (nginx OSS) may send work to a replica that just came back: that work waits a
// moment instead of failing. Probes, health, version, metrics and the docs never wait.
import type { MiddlewareHandler } from 'hono'
import type { Lifecycle } from '../../system/lifecycle.ts'
import { UnavailableError } from '../errors.ts'

const alwaysOpen = new Set(['/api/v1/health', '/api/v1/version'])

export function notBeforeReady(lifecycle: Lifecycle, waitMs = 10_000): MiddlewareHandler {
  return async (c, next) => {
    if (
      lifecycle.phase === 'starting' &&
      c.req.path.startsWith('/api/') &&
      !alwaysOpen.has(c.req.path) &&
      !(await lifecycle.waitUntilStarted(waitMs))
    )
      throw new UnavailableError('starting', 'This replica is starting; retry in a moment.', 1)
    await next()
  }
}
