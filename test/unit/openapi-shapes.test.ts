// The shapes of openapi/openapi.json that client generators choke on, checked without running a
// generator (test/e2e/sdk-clients.test.ts runs them): why each rule exists is in
// docs/SDK_CLIENTS.md. Each rule is also shown to catch the shape it forbids.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

type Schema = Record<string, unknown>
const document = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', '..', 'openapi', 'openapi.json'), 'utf8'),
)
const schemas = document.components.schemas as Record<string, Schema>

/** Every schema object in a document part, with its JSON pointer. */
function* walk(node: unknown, at: string): Generator<[string, Schema]> {
  if (Array.isArray(node)) for (const [i, item] of node.entries()) yield* walk(item, `${at}/${i}`)
  else if (node !== null && typeof node === 'object') {
    yield [at, node as Schema]
    for (const [key, value] of Object.entries(node)) yield* walk(value, `${at}/${key}`)
  }
}

const isPlainObject = (v: unknown) => v !== null && typeof v === 'object' && !Array.isArray(v)
const resolve = (s: Schema): Schema =>
  typeof s.$ref === 'string' ? (schemas[s.$ref.split('/').pop() as string] as Schema) : s
/** The properties and required fields of an object schema, through $refs and allOf. */
function objectShape(s: Schema): { properties: string[]; required: string[] } | undefined {
  const schema = resolve(s)
  if (Array.isArray(schema.allOf)) {
    const parts = (schema.allOf as Schema[]).map(objectShape)
    if (parts.some((p) => p === undefined)) return undefined
    return {
      properties: parts.flatMap((p) => p?.properties ?? []),
      required: parts.flatMap((p) => p?.required ?? []),
    }
  }
  if (schema.type !== 'object') return undefined
  return { properties: Object.keys(schema.properties ?? {}), required: (schema.required ?? []) as string[] }
}

/** Objects that may also be null: openapi-python-client cannot process `type: ["object", "null"]`. */
function nullableObjects(doc: unknown): string[] {
  return [...walk(doc, '#')]
    .filter(([, s]) => Array.isArray(s.type) && s.type.includes('object') && s.type.includes('null'))
    .map(([at]) => at)
}

/** Defaults a generator cannot write in Go: an object value, or any default of a union or $ref. */
function inexpressibleDefaults(doc: unknown): string[] {
  return [...walk(doc, '#')]
    .filter(
      ([, s]) => 'default' in s && (isPlainObject(s.default) || 'anyOf' in s || 'oneOf' in s || '$ref' in s),
    )
    .map(([at]) => at)
}

/** Union members that are neither a named schema nor a scalar: generators invent names for them
 * (or, openapi-python-client with an inline allOf, drop the union). */
function inlineUnionMembers(doc: unknown): string[] {
  return [...walk(doc, '#')].flatMap(([at, s]) =>
    (['anyOf', 'oneOf'] as const).flatMap((k) =>
      Array.isArray(s[k])
        ? (s[k] as Schema[]).flatMap((m, i) =>
            '$ref' in m || ['string', 'number', 'integer', 'boolean', 'null'].includes(String(m.type))
              ? []
              : [`${at}/${k}/${i}`],
          )
        : [],
    ),
  )
}

/** Unions without a discriminator whose earlier member would also accept a later member's
 * payload: generated clients (Python in order, Go when unknown fields are allowed) take the first
 * member that parses, so a member must not come before one whose properties hold all of its
 * required fields. */
function shadowedUnionMembers(doc: unknown): string[] {
  return [...walk(doc, '#')].flatMap(([at, s]) => {
    const members = (s.anyOf ?? s.oneOf) as Schema[] | undefined
    if (!members || s.discriminator) return []
    const shapes = members.map(objectShape)
    const found: string[] = []
    for (const [i, earlier] of shapes.entries())
      for (const later of shapes.slice(i + 1))
        if (earlier && later && earlier.required.every((name) => later.properties.includes(name)))
          found.push(`${at}: member ${i} shadows a later one`)
    return found
  })
}

describe('OpenAPI shapes that generated clients read', () => {
  it('has no nullable object types (a named schema or null is anyOf [$ref, null])', () => {
    expect(nullableObjects(document)).toEqual([])
    expect(nullableObjects({ type: ['object', 'null'], properties: {} })).toEqual(['#'])
  })

  it('has no object defaults and no defaults on unions or references', () => {
    expect(inexpressibleDefaults(document)).toEqual([])
    expect(inexpressibleDefaults({ properties: { a: { type: 'object', default: {} } } })).toEqual([
      '#/properties/a',
    ])
    expect(
      inexpressibleDefaults({ anyOf: [{ type: 'boolean' }, { type: 'string' }], default: false }),
    ).toEqual(['#'])
    // Scalars and arrays are fine (every generator writes them or leaves them to the server).
    expect(inexpressibleDefaults({ properties: { a: { type: 'array', default: [] } } })).toEqual([])
  })

  it('names every object member of a union', () => {
    expect(inlineUnionMembers(document)).toEqual([])
    expect(
      inlineUnionMembers({ anyOf: [{ $ref: '#/x' }, { allOf: [{ $ref: '#/y' }, { type: 'object' }] }] }),
    ).toEqual(['#/anyOf/1'])
  })

  it('orders union members so the first that parses is the right one', () => {
    expect(shadowedUnionMembers(document)).toEqual([])
    // The sign-in response before this rule: a token session parsed as a CookieSession.
    const before = {
      anyOf: [
        { $ref: '#/components/schemas/CookieSession' },
        { $ref: '#/components/schemas/TokenSession' },
        { $ref: '#/components/schemas/MfaChallenge' },
      ],
    }
    expect(shadowedUnionMembers(before)).toEqual(['#: member 0 shadows a later one'])
  })

  it('keeps the sign-in responses as named unions of named members', () => {
    expect(schemas.LoginResponse?.anyOf).toEqual([
      { $ref: '#/components/schemas/TokenSession' },
      { $ref: '#/components/schemas/MfaChallenge' },
      { $ref: '#/components/schemas/CookieSession' },
    ])
    const refresh =
      document.paths['/api/v1/auth/refresh'].post.responses['200'].content['application/json'].schema
    expect(refresh).toEqual({ $ref: '#/components/schemas/SessionResponse' })
  })
})
