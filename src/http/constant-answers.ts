// Answers that never change, served before the Hono pipeline: GET /livez ("the process
// answers"), which kubelets and load balancers ask every few seconds on every replica. The
// answer is the one the pipeline would give (the route stays in the probes app for HEAD and
// CORS requests, and in src/system/routes.ts for the OpenAPI document): request id, security
// headers, Connection: close while draining, the duration histogram and the access-log line
// (src/http/envelope.ts).
// What it skips is what such a request never uses: Hono's context and compose over the
// middleware chain, which cost about twice the server's own work per request (docs/PERFORMANCE.md).

import type { Logger } from '../platform/log.ts'
import type { Histogram } from '../platform/metrics/registry.ts'
import type { Lifecycle } from '../system/lifecycle.ts'
import { type ConnectionEnv, resolveClientAddress, TrustedProxies } from './client-address.ts'
import { recordRequest, requestIdFor, requestIdHeader, securityHeaderEntries } from './envelope.ts'

/** For a GET path with a constant answer: that answer; otherwise undefined (the pipeline serves). */
export type ConstantAnswers = (request: Request, env: ConnectionEnv, path: string) => Response | undefined

export function constantAnswers(options: {
  /** Path → JSON body, fixed for the life of the process. */
  answers: Record<string, unknown>
  lifecycle: Lifecycle
  durations: Histogram
  log: Logger
  trustedProxies: readonly string[]
  /** With CORS configured, a request with an Origin takes the pipeline (its CORS headers). */
  corsOrigins: readonly string[]
}): ConstantAnswers {
  const bodies = new Map(Object.entries(options.answers).map(([path, body]) => [path, JSON.stringify(body)]))
  // Copying a Headers is one native call; building one from an object literal costs twice as much.
  const headers = new Headers([['Content-Type', 'application/json'], ...securityHeaderEntries])
  const trusted = new TrustedProxies(options.trustedProxies)
  const { lifecycle, durations, log } = options
  const corsApplies = options.corsOrigins.length > 0

  return (request, env, path) => {
    const body = bodies.get(path)
    if (body === undefined || request.method !== 'GET') return undefined
    if (corsApplies && request.headers.has('origin')) return undefined
    const started = performance.now()
    lifecycle.requestStarted()
    const id = requestIdFor(request.headers.get(requestIdHeader))
    const answerHeaders = new Headers(headers)
    answerHeaders.set(requestIdHeader, id)
    if (lifecycle.phase === 'draining') answerHeaders.set('Connection', 'close')
    const response = new Response(body, { status: 200, headers: answerHeaders })
    lifecycle.requestFinished()
    recordRequest(durations, log.enabled('info') ? log.child({ requestId: id }) : log, {
      method: 'GET',
      route: path,
      path,
      status: 200,
      seconds: (performance.now() - started) / 1000,
      client: () =>
        resolveClientAddress(env.peerAddress, (name) => request.headers.get(name) ?? undefined, trusted),
    })
    return response
  }
}
