// Rules every operation follows because of the shared request path (app.ts middleware and
// createRouter's validation hook), written into the OpenAPI document once here rather than
// repeated in each route definition:
// - a request body in another media type than the declared one: 415 (zod-openapi's media type
//   gate, code `unsupported_media_type`); a body too large: 413 (limitRequestBody);
// - an operation that declares Idempotency-Key: 400 `idempotency_key_invalid`, 409
//   `idempotency_in_progress`, 422 `idempotency_key_reused` (middleware/idempotency.ts);
// - no string of a request (body, query, path, header, form, object key) may contain U+0000
//   (nulProblems in openapi.ts): a `pattern` on every request string that has no pattern,
//   format or enum of its own, and `propertyNames` on every open map;
// - integers of a request are safe integers (zod's int()): minimum and maximum +-(2^53 - 1) where
//   the schema sets none.
// test/unit/openapi-rules.test.ts holds the document to these rules.
/** JSON Schema pattern of a string without U+0000 (ECMA-262, Python and Rust regex alike). */
export const noNulPattern = '^[^\\x00]*$'

type Json = Record<string, unknown>
type Operation = { parameters?: Json[]; requestBody?: Json; responses?: Record<string, unknown> }

const problem = { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } }
const sharedResponses = {
  413: 'Request body too large (PGA_HTTP_BODY_LIMIT).',
  415: 'The body is not in a media type the operation accepts (`unsupported_media_type`).',
}
const idempotencyResponses = {
  400: 'Invalid request (see `errors`), or a malformed Idempotency-Key (`idempotency_key_invalid`).',
  409: 'Conflict with the current state, or the first request with this Idempotency-Key still runs (`idempotency_in_progress`).',
  422: 'Idempotency-Key already used for another request (`idempotency_key_reused`).',
}
const methods = ['get', 'put', 'post', 'delete', 'patch'] as const

/** Adds the shared statuses and the NUL rule to a generated document (in place) and returns it. */
export function applyRequestRules<D extends { paths?: unknown; components?: unknown }>(document: D): D {
  const components = (document.components ?? {}) as { schemas?: Record<string, Json> }
  const schemas = components.schemas ?? {}
  const seen = new Set<Json>()
  const inputRules = (schema: unknown) => {
    if (!schema || typeof schema !== 'object' || seen.has(schema as Json)) return
    const s = schema as Json
    seen.add(s)
    if (typeof s.$ref === 'string') {
      inputRules(schemas[s.$ref.replace('#/components/schemas/', '')])
      return
    }
    const types = Array.isArray(s.type) ? s.type : [s.type]
    if (types.includes('string') && !s.pattern && !s.format && !s.enum && s.const === undefined)
      s.pattern = noNulPattern
    // zod's int() takes safe integers only (|n| <= 2^53 - 1): what JSON numbers survive exactly.
    if (types.includes('integer') && !s.enum && s.const === undefined) {
      if (s.maximum === undefined && s.exclusiveMaximum === undefined) s.maximum = Number.MAX_SAFE_INTEGER
      if (s.minimum === undefined && s.exclusiveMinimum === undefined) s.minimum = Number.MIN_SAFE_INTEGER
      // Beyond 32 bits generators need the 64-bit type (Go's default int32 cannot hold the bound).
      const high = (s.maximum ?? s.exclusiveMaximum) as number
      const low = (s.minimum ?? s.exclusiveMinimum) as number
      if (!s.format && (high > 2 ** 31 - 1 || low < -(2 ** 31))) s.format = 'int64'
    }
    const open = s.additionalProperties
    if (types.includes('object') && open !== undefined && open !== false && !s.propertyNames)
      s.propertyNames = { pattern: noNulPattern }
    for (const key of ['items', 'additionalProperties']) inputRules(s[key])
    for (const key of ['anyOf', 'oneOf', 'allOf', 'prefixItems'])
      if (Array.isArray(s[key])) for (const sub of s[key] as unknown[]) inputRules(sub)
    if (s.properties) for (const sub of Object.values(s.properties as Json)) inputRules(sub)
  }
  const parameters = (components as { parameters?: Record<string, Json> }).parameters ?? {}
  for (const item of Object.values((document.paths ?? {}) as Record<string, Json>)) {
    for (const method of methods) {
      const operation = item[method] as Operation | undefined
      if (!operation) continue
      const responses = operation.responses ?? {}
      const add = (status: number, description: string) => {
        responses[String(status)] ??= { description, content: problem }
      }
      if (operation.requestBody) {
        for (const [status, description] of Object.entries(sharedResponses)) add(Number(status), description)
        const content = (operation.requestBody.content ?? {}) as Record<string, { schema?: unknown }>
        for (const media of Object.values(content)) inputRules(media.schema)
      }
      for (const parameter of operation.parameters ?? []) {
        const resolved =
          typeof parameter.$ref === 'string'
            ? parameters[parameter.$ref.replace('#/components/parameters/', '')]
            : parameter
        inputRules(resolved?.schema)
        if (parameter.$ref === '#/components/parameters/IdempotencyKey')
          for (const [status, description] of Object.entries(idempotencyResponses))
            add(Number(status), description)
      }
      operation.responses = Object.fromEntries(
        Object.entries(responses).sort(([a], [b]) => a.localeCompare(b)),
      )
    }
  }
  return document
}
