// OpenAPI plumbing shared by every area: the Problem schema, the standard error responses,
// and the router factory whose validation hook turns zod failures into our 400.
import { OpenAPIHono, type RouteConfig, z } from '@hono/zod-openapi'
import type { Env, MiddlewareHandler } from 'hono'
import { type FieldProblem, ValidationError } from './errors.ts'
import { idempotencyKeyPattern } from './middleware/idempotency.ts'

export const ProblemSchema = z
  .object({
    type: z.string().openapi({ example: 'https://pganalytics.dev/problems/validation-failed' }),
    title: z.string().openapi({ example: 'Request validation failed' }),
    status: z.number().int().openapi({ example: 400 }),
    detail: z.string().optional(),
    instance: z.string().optional().openapi({ description: 'Path of the request.' }),
    code: z
      .string()
      .openapi({ description: 'Stable machine-readable error code.', example: 'validation_failed' }),
    requestId: z.string().optional().openapi({ description: 'Echo of X-Request-Id, for support.' }),
    errors: z
      .array(z.object({ path: z.string(), message: z.string() }))
      .optional()
      .openapi({ description: 'Per-field problems (validation failures only).' }),
  })
  .openapi('Problem', { description: 'RFC 9457 problem details.' })

/** Response or request content of JSON described by `schema`. */
export const jsonContent = <T>(schema: T) => ({ 'application/json': { schema } })

/** Content of an RFC 9457 problem response. */
export const problemContent = { 'application/problem+json': { schema: ProblemSchema } }
const standardErrors = {
  400: { description: 'Invalid request (see `errors`).', content: problemContent },
  401: { description: 'Not authenticated.', content: problemContent },
  403: { description: 'Not allowed.', content: problemContent },
  404: { description: 'Not found.', content: problemContent },
  409: { description: 'Conflict with the current state.', content: problemContent },
  413: { description: 'Request body too large.', content: problemContent },
  422: {
    description: 'Idempotency-Key already used for another request (`idempotency_key_reused`).',
    content: problemContent,
  },
  429: { description: 'Too many requests; see Retry-After.', content: problemContent },
  500: { description: 'Unexpected error (opaque; quote the request id).', content: problemContent },
  503: { description: 'Not ready or a dependency is down.', content: problemContent },
} as const

/** The error responses a route can produce, for its `responses` block. */
export function errorResponses<S extends keyof typeof standardErrors>(
  ...statuses: S[]
): Pick<typeof standardErrors, S> {
  return Object.fromEntries(statuses.map((s) => [s, standardErrors[s]])) as Pick<typeof standardErrors, S>
}

/** The Idempotency-Key request header, registered once as a reusable parameter. */
export const idempotencyKeyParameter = {
  name: 'Idempotency-Key',
  in: 'header' as const,
  required: false,
  description:
    'Makes a retry safe (draft-ietf-httpapi-idempotency-key-header): a unique key per operation, 1-255 visible ASCII characters (a UUID is fine), optionally as a quoted string. A retry with the same key and payload gets the first response again, with `Idempotent-Replayed: true`, on any replica, for PGA_IDEMPOTENCY_TTL (24 h by default). While the first attempt still runs: 409 `idempotency_in_progress` (after waiting up to PGA_IDEMPOTENCY_WAIT). The same key with another method, path or body: 422 `idempotency_key_reused`. Malformed: 400 `idempotency_key_invalid`. Keys are scoped to the caller and the route. Every POST, PUT, PATCH and DELETE accepts it; operations that create things or start work declare it.',
  schema: {
    type: 'string' as const,
    minLength: 1,
    maxLength: 257,
    pattern: idempotencyKeyPattern.source,
    example: '8e03978e-40d5-43e8-bc93-6894a57f9324',
  },
}

/** The components every operation may refer to: the Idempotency-Key parameter the pipeline
 * accepts on unsafe methods and the bearer scheme its authentication reads. */
export function registerPipelineComponents(app: OpenAPIHono) {
  app.openAPIRegistry.registerComponent('parameters', 'IdempotencyKey', idempotencyKeyParameter)
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description:
      'An access token from POST /api/v1/auth/login, or PGA_ADMIN_TOKEN (role admin, for automation). Each operation names the permission it needs in x-permission.',
  })
}

/** Route options of an operation that creates things or starts work: declares Idempotency-Key.
 * Its responses should include 409 and 422 (errorResponses). */
export const idempotent = { parameters: [{ $ref: '#/components/parameters/IdempotencyKey' }] }

/** Turns zod issues into field problems like `body.env.PGA_PORT` or `query.limit`; a field the
 * schema does not know is named by its own path (`body.isSelf`). */
export function fieldProblems(target: string, issues: z.core.$ZodIssue[]): FieldProblem[] {
  const location = target === 'json' || target === 'form' ? 'body' : target
  const at = (path: PropertyKey[]) => [location, ...path.map(String)].join('.')
  return issues.flatMap((issue) =>
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => ({ path: at([...issue.path, key]), message: 'unknown field' }))
      : [{ path: at(issue.path), message: issue.message }],
  )
}

/** Field problems for every string (value or object key) in validated input that contains
 * U+0000. PostgreSQL text cannot hold it ("invalid byte sequence"), so it is refused here, once
 * for every body, query, path and form field of every route, rather than per schema. */
export function nulProblems(target: string, data: unknown): FieldProblem[] {
  const location = target === 'json' || target === 'form' ? 'body' : target
  const found: FieldProblem[] = []
  const message = 'must not contain the NUL character (U+0000)'
  const visit = (value: unknown, path: string) => {
    if (typeof value === 'string') {
      if (value.includes('\u0000')) found.push({ path, message })
    } else if (Array.isArray(value)) {
      for (const [i, item] of value.entries()) visit(item, `${path}.${i}`)
    } else if (value !== null && typeof value === 'object') {
      // Plain objects only: parsed JSON, query and form records (not dates or files).
      const proto = Object.getPrototypeOf(value)
      if (proto !== Object.prototype && proto !== null) return
      for (const [key, item] of Object.entries(value)) {
        if (key.includes('\u0000')) found.push({ path, message: `a key ${message}` })
        else visit(item, `${path}.${key}`)
      }
    }
  }
  visit(data, location)
  return found
}

/** A route whose body is required, asked without one (no Content-Type, no length): zod-openapi
 * would validate `{}` instead, so a PATCH of only optional fields would pass as a no-op. A body
 * without Content-Type goes on to zod-openapi's media type gate (415). */
const requireBody: MiddlewareHandler = async (c, next) => {
  const length = Number(c.req.header('content-length') ?? 0)
  if (c.req.header('content-type') === undefined && length === 0 && !c.req.header('transfer-encoding'))
    throw new ValidationError([{ path: 'body', message: 'a request body is required' }])
  await next()
}

/** An OpenAPIHono router whose invalid inputs become ValidationError (400 problem+json). Every
 * route's request validation passes this hook, which is why input-wide rules live here. */
export function createRouter<E extends Env = Env>() {
  const router = new OpenAPIHono<E>({
    defaultHook: (result) => {
      if (!result.success) throw new ValidationError(fieldProblems(result.target, result.error.issues))
      const nul = nulProblems(result.target, result.data)
      if (nul.length > 0) throw new ValidationError(nul)
    },
  })
  const register = router.openapi.bind(router)
  router.openapi = ((route: RouteConfig, ...rest: unknown[]) => {
    if (!route.request?.body?.required) return (register as (...a: unknown[]) => unknown)(route, ...rest)
    const middleware = route.middleware === undefined ? [] : [route.middleware].flat()
    return (register as (...a: unknown[]) => unknown)(
      { ...route, middleware: [requireBody, ...middleware] },
      ...rest,
    )
  }) as typeof router.openapi
  return router
}
