// What every answer carries, whichever path serves it (the Hono pipeline, or a constant answer
// before it, src/http/constant-answers.ts): a request id, the security headers, and one record
// of the request (duration histogram by route and status, one JSON access-log line).

import type { Logger } from '../platform/log.ts'
import type { Histogram } from '../platform/metrics/registry.ts'

export const requestIdHeader = 'X-Request-Id'

const wellFormedRequestId = /^[A-Za-z0-9._:-]{8,128}$/

/** A well-formed incoming id (so ids follow a request across a proxy), otherwise a new one. */
export function requestIdFor(incoming: string | null | undefined): string {
  return incoming && wellFormedRequestId.test(incoming) ? incoming : crypto.randomUUID()
}

/** The CSP allows only this origin, plus inline styles (Swagger UI sets style attributes). */
export const contentSecurityPolicy = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ')

/** The same small set on every response, computed once. */
export const securityHeaderEntries: readonly [string, string][] = [
  ['Content-Security-Policy', contentSecurityPolicy],
  ['Strict-Transport-Security', 'max-age=31536000; includeSubDomains'],
  ['X-Content-Type-Options', 'nosniff'],
  ['X-Frame-Options', 'DENY'],
  ['Referrer-Policy', 'no-referrer'],
  ['Cross-Origin-Opener-Policy', 'same-origin'],
  ['Cross-Origin-Resource-Policy', 'same-origin'],
]

export type AnsweredRequest = {
  method: string
  /** The matched route pattern (/api/v1/x/:id), never the raw path: bounded cardinality. */
  route: string
  path: string
  status: number
  seconds: number
  /** Resolved only when the access log is written. */
  client: () => string | undefined
}

/** The histogram observation and the access-log line of one answered request. */
export function recordRequest(durations: Histogram, log: Logger, request: AnsweredRequest) {
  const { method, route, status, seconds } = request
  durations.observeKeyed(seconds, `${method} ${status} ${route}`, () => ({
    method,
    route,
    status: String(status),
  }))
  // 503 is an expected answer (starting, draining, a dependency down), not a fault.
  const level = status >= 500 && status !== 503 ? 'error' : status === 503 ? 'warn' : 'info'
  if (log.enabled(level)) {
    log[level]('request', {
      method,
      route,
      path: request.path,
      status,
      client: request.client(),
      durationMs: Math.round(seconds * 100_000) / 100,
    })
  }
}
