// Mapping of every failure to RFC 9457 problem+json: our ServiceError family, Hono's
// HTTPException (malformed JSON, body limit), and anything else as an opaque 500.
import type { Context } from 'hono'
import { HTTPException } from 'hono/http-exception'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { StateStoreUnavailableError } from '../platform/state/state-store.ts'
import { type Problem, problemType, ServiceError } from './errors.ts'

const honoCodes: Record<string, string> = {
  'Malformed JSON in request body': 'malformed_json',
  // zod-openapi's media type gate: a body in another media type than the route declares.
  'Unsupported Media Type': 'unsupported_media_type',
}

/** Builds the problem body and status for an error thrown while serving c. */
export function toProblem(c: Context, error: unknown): Problem {
  const base = { instance: c.req.path, requestId: c.var.requestId }
  if (error instanceof ServiceError) {
    return {
      type: problemType(error.code),
      title: error.title,
      status: error.status,
      detail: error.message,
      code: error.code,
      ...base,
      ...(error.extra.errors ? { errors: error.extra.errors } : {}),
    }
  }
  if (error instanceof HTTPException) {
    const code = honoCodes[error.message] ?? `http_${error.status}`
    return {
      type: problemType(code),
      title: error.message || 'Request failed',
      status: error.status,
      code,
      ...base,
    }
  }
  const outage = dependencyOutage(error)
  if (outage)
    return {
      type: problemType(outage.code),
      title: 'Service unavailable',
      status: 503,
      detail: outage.detail,
      code: outage.code,
      ...base,
    }
  return {
    type: problemType('internal_error'),
    title: 'Internal server error',
    status: 500,
    detail: `An unexpected error occurred. Quote request id ${c.var.requestId ?? 'unknown'} when reporting it.`,
    code: 'internal_error',
    ...base,
  }
}

/** PostgreSQL error classes and postgres.js codes that mean the store is not reachable. */
const storeConnectionCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
])

/** A dependency being down is a 503 the client may retry, not an opaque 500. */
function dependencyOutage(error: unknown): { code: string; detail: string } | null {
  if (error instanceof StateStoreUnavailableError)
    return {
      code: 'state_store_unavailable',
      detail: 'The state store (Redis) is unreachable; retry shortly.',
    }
  const code = String((error as { code?: unknown })?.code ?? '')
  if (storeConnectionCodes.has(code) || code.startsWith('08'))
    return { code: 'store_unavailable', detail: 'The database is unreachable; retry shortly.' }
  return null
}

/** Seconds a client should wait after a problem, when the problem says so. */
export function retryAfterOf(problem: Problem): number | undefined {
  return problem.status === 503 && problem.code.endsWith('_unavailable') ? 2 : undefined
}

/** Built through the context so headers set by middleware (request id, security) apply too. */
export function problemResponse(
  c: Context,
  problem: Problem,
  headers: Record<string, string> = {},
): Response {
  return c.body(JSON.stringify(problem), problem.status as ContentfulStatusCode, {
    'Content-Type': 'application/problem+json',
    ...headers,
  })
}
