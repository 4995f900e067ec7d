// What the replica's phase means for a request, in one middleware:
// - starting (migrations, keyring): an API request waits for the replica to be ready (up to
//   `waitMs`), then runs; if start-up takes longer it answers 503 `starting` with Retry-After.
//   The listener opens first so probes answer at once, and a balancer without active health
//   checks (nginx OSS) may send work to a replica that just came back: that work waits a moment
//   instead of failing. Probes, health, version, metrics and the docs never wait.
// - draining (after SIGTERM): served as usual, but every response says `Connection: close`, so
//   keep-alive clients and balancers reconnect, to another replica.
import type { MiddlewareHandler } from 'hono'
import type { Lifecycle } from '../../system/lifecycle.ts'
import { UnavailableError } from '../errors.ts'

const alwaysOpen = new Set(['/api/v1/health', '/api/v1/version'])

export function lifecycleGate(lifecycle: Lifecycle, waitMs = 10_000): MiddlewareHandler {
  const waitThenRun: MiddlewareHandler = async (_c, next) => {
    if (!(await lifecycle.waitUntilStarted(waitMs)))
      throw new UnavailableError('starting', 'This replica is starting; retry in a moment.', 1)
    await next()
  }
  const closeAfter: MiddlewareHandler = async (c, next) => {
    await next()
    c.header('Connection', 'close')
  }
  // Not async on the path every request takes once ready: a promise per request costs more
  // than the check.
  return (c, next) => {
    switch (lifecycle.phase) {
      case 'ready':
        return next()
      case 'draining':
        return closeAfter(c, next)
      case 'starting':
        return c.req.path.startsWith('/api/') && !alwaysOpen.has(c.req.path) ? waitThenRun(c, next) : next()
    }
  }
}
