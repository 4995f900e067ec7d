// The OpenAPI document states what the shared request path enforces (src/http/openapi-rules.ts),
// so a client or a fuzzer reading it knows every status and every input rule: 413/415 on every
// body, the Idempotency-Key statuses, no U+0000 in any request string or key, safe integers,
// and the exact host, email and tag-name rules the server checks.
import { describe, expect, it } from 'vitest'
import { CreateUserInputSchema } from '../../src/auth/schemas.ts'
import { idempotencyKeyPattern } from '../../src/http/middleware/idempotency.ts'
import { noNulPattern } from '../../src/http/openapi-rules.ts'
import { hostPattern, InstanceInputSchema } from '../../src/instances/schemas.ts'
import { generateOpenApiDocument } from '../../src/openapi-document.ts'

type Schema = Record<string, unknown> & {
  $ref?: string
  type?: string | string[]
  properties?: Record<string, Schema>
  items?: Schema
  additionalProperties?: boolean | Schema
  anyOf?: Schema[]
  oneOf?: Schema[]
  allOf?: Schema[]
}
type Operation = {
  parameters?: (Schema & { name?: string; in?: string; schema?: Schema })[]
  requestBody?: { content: Record<string, { schema: Schema }> }
  responses: Record<string, unknown>
}
const document = generateOpenApiDocument() as unknown as {
  paths: Record<string, Record<string, Operation>>
  components: { schemas: Record<string, Schema>; parameters: Record<string, Schema & { schema: Schema }> }
}
const operations = Object.entries(document.paths).flatMap(([path, item]) =>
  Object.entries(item)
    .filter(([method]) => ['get', 'put', 'post', 'delete', 'patch'].includes(method))
    .map(([method, operation]) => ({ label: `${method.toUpperCase()} ${path}`, operation })),
)

/** Every schema a request can carry: [where, schema], $refs followed once. */
function requestSchemas(): [string, Schema][] {
  const found: [string, Schema][] = []
  const seen = new Set<Schema>()
  const walk = (schema: Schema | undefined, where: string) => {
    if (!schema || typeof schema !== 'object' || seen.has(schema)) return
    seen.add(schema)
    if (schema.$ref) return walk(document.components.schemas[schema.$ref.split('/').pop() as string], where)
    found.push([where, schema])
    for (const [name, sub] of Object.entries(schema.properties ?? {})) walk(sub, `${where}.${name}`)
    walk(schema.items, `${where}[]`)
    if (typeof schema.additionalProperties === 'object') walk(schema.additionalProperties, `${where}{}`)
    for (const sub of [...(schema.anyOf ?? []), ...(schema.oneOf ?? []), ...(schema.allOf ?? [])])
      walk(sub, where)
  }
  for (const { label, operation } of operations) {
    for (const parameter of operation.parameters ?? []) {
      const resolved = parameter.$ref
        ? document.components.parameters[parameter.$ref.split('/').pop() as string]
        : parameter
      walk(resolved?.schema, `${label} ${resolved?.in} ${resolved?.name}`)
    }
    for (const content of Object.values(operation.requestBody?.content ?? {}))
      walk(content.schema, `${label} body`)
  }
  return found
}
const types = (s: Schema) => (Array.isArray(s.type) ? s.type : [s.type])

describe('statuses every operation of a kind can answer', () => {
  it('each operation with a body documents 413 and 415', () => {
    const missing = operations
      .filter(({ operation }) => operation.requestBody)
      .filter(({ operation }) => !operation.responses['413'] || !operation.responses['415'])
      .map(({ label }) => label)
    expect(operations.filter(({ operation }) => operation.requestBody).length).toBeGreaterThan(25)
    expect(missing).toEqual([])
  })

  it('each operation taking Idempotency-Key documents 400, 409 and 422', () => {
    const takers = operations.filter(({ operation }) =>
      (operation.parameters ?? []).some((p) => p.$ref === '#/components/parameters/IdempotencyKey'),
    )
    expect(takers.length).toBeGreaterThan(10)
    const missing = takers.filter(({ operation }) =>
      ['400', '409', '422'].some((s) => !operation.responses[s]),
    )
    expect(missing.map(({ label }) => label)).toEqual([])
  })

  it('sign-in documents 429 (rate limits per address and per account)', () => {
    expect(document.paths['/api/v1/auth/login']?.post?.responses['429']).toBeDefined()
  })

  it('creating an agent key for an instance that does not exist documents 404', () => {
    expect(document.paths['/api/v1/api-keys']?.post?.responses['404']).toBeDefined()
  })
})

describe('input rules stated in the document', () => {
  const withNul = ['\u0000', 'a\u0000', '\u0000a', 'db1\u0000.internal', 'ldap://a\u0000', 'x\u0000y']
  const pem = '-----BEGIN CERTIFICATE-----'

  it('no request string admits U+0000: its own pattern, format or enum excludes it', () => {
    const strings = requestSchemas().filter(([, s]) => types(s).includes('string'))
    expect(strings.length).toBeGreaterThan(100)
    const admitting = strings.filter(([, s]) => {
      if (s.format || s.enum || s.const !== undefined) return false
      if (typeof s.pattern !== 'string') return true
      const pattern = new RegExp(s.pattern, 'u')
      return [...withNul, `${pem}\u0000`].some((value) => pattern.test(value))
    })
    expect(admitting.map(([where]) => where)).toEqual([])
  })

  it('no open map admits a key with U+0000', () => {
    const open = requestSchemas().filter(
      ([, s]) => types(s).includes('object') && Boolean(s.additionalProperties),
    )
    expect(open.length).toBeGreaterThan(3)
    const admitting = open.filter(([, s]) => {
      const names = (s.propertyNames as { pattern?: string } | undefined)?.pattern
      return !names || withNul.some((value) => new RegExp(names, 'u').test(value))
    })
    expect(admitting.map(([where]) => where)).toEqual([])
  })

  it('request integers are bounded to safe integers (what zod int() takes)', () => {
    const unbounded = requestSchemas().filter(
      ([, s]) =>
        types(s).includes('integer') &&
        !s.enum &&
        ((s.maximum === undefined && s.exclusiveMaximum === undefined) ||
          (s.minimum === undefined && s.exclusiveMinimum === undefined)),
    )
    expect(unbounded.map(([where]) => where)).toEqual([])
    const auditId = document.paths['/api/v1/audit/logs/{id}']?.get?.parameters?.find((p) => p.name === 'id')
    expect(auditId?.schema?.maximum).toBe(Number.MAX_SAFE_INTEGER)
  })

  it('the NUL pattern matches text without U+0000 and nothing with it', () => {
    const pattern = new RegExp(noNulPattern, 'u')
    expect(pattern.test('any text, even\nmulti-line ✓')).toBe(true)
    for (const value of withNul) expect(pattern.test(value)).toBe(false)
  })

  it('Idempotency-Key: the pattern the middleware checks', () => {
    const parameter = document.components.parameters.IdempotencyKey
    expect(parameter?.schema.pattern).toBe(idempotencyKeyPattern.source)
  })

  const hosts: [string, boolean][] = [
    ['db1.internal', true],
    ['localhost', true],
    ['svc_name.ns', true],
    ['3f4e5a6b7c8d', true],
    ['10.0.0.7', true],
    ['[2001:db8::1]', true],
    ['[::1]', true],
    ['[::ffff:10.0.0.7]', true],
    ['[0]', false],
    ['2001:db8::1', false],
    ['g:G', false],
    ['a.1', false],
    ['256.1.1.1', false],
    ['db1.internal.', false],
    ['-db1', false],
    ['a..b', false],
    ['x'.repeat(64), false],
  ]
  it.each(hosts)('host %j: the document and the server agree (%s)', (host, valid) => {
    const documented = document.components.schemas.InstanceInput?.properties?.host?.pattern as string
    expect(documented).toBe(hostPattern.source)
    expect(new RegExp(documented, 'u').test(host)).toBe(valid)
    const input = { name: 'n', host, username: 'u' }
    expect(InstanceInputSchema.safeParse(input).success).toBe(valid)
  })

  const emails: [string, boolean][] = [
    ['ops@example.com', true],
    ['  Ops.Team+pga@Example.COM ', true],
    ["o'brien@example.co.uk", true],
    ['', false],
    ['ops', false],
    ['ops@example', false],
    ['.ops@example.com', false],
    ['ops..team@example.com', false],
    ['ops@exa mple.com', false],
  ]
  it.each(emails)('email %j: the document and the server agree (%s)', (email, valid) => {
    const documented = document.components.schemas.CreateUserInput?.properties?.email?.pattern as string
    expect(new RegExp(documented, 'u').test(email)).toBe(valid)
    const input = { email, role: 'viewer', password: 'a long enough pass phrase 42' }
    expect(CreateUserInputSchema.safeParse(input).success).toBe(valid)
  })

  it('tag names: the key rule and the count are in the document', () => {
    const tags = document.components.schemas.InstanceInput?.properties?.tags as Schema
    expect(tags.maxProperties).toBe(32)
    const names = new RegExp((tags.propertyNames as { pattern: string }).pattern, 'u')
    expect(names.test('env')).toBe(true)
    expect(names.test('Env')).toBe(false)
    expect(names.test('x-schemathesis-additional')).toBe(false)
  })
})
