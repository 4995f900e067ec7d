// Every request body of the API is a closed shape: an object with named fields refuses other
// fields (additionalProperties: false), so nothing can be mass-assigned through a field the
// schema forgot. The open maps below are open on purpose; a new one has to be added here, with
// its reason.
import { describe, expect, it } from 'vitest'
import { generateOpenApiDocument } from '../../src/openapi-document.ts'

const openOnPurpose: Record<string, string> = {
  'ConfigCheckRequest.env': 'environment variables by name; unknown PGA_* names are reported as warnings',
  'InstanceInput.tags': 'the operator’s own tag names (pattern-checked)',
  'InstanceUpdate.tags': 'the operator’s own tag names (pattern-checked)',
  'UpdateIdentityProvider.settings':
    'validated by the service, merged, against the provider type’s closed schema',
  'UpdateIdentityProvider.roleMapping[]':
    'validated by the service against the provider type’s closed rule schema',
  SamlAcsForm: 'posted by the identity provider’s own form, which may add fields; only two are read',
}

type Schema = {
  $ref?: string
  type?: string | string[]
  properties?: Record<string, Schema>
  additionalProperties?: boolean | Schema
  items?: Schema
  allOf?: Schema[]
  anyOf?: Schema[]
  oneOf?: Schema[]
}
type Document = {
  paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: Schema }> } }>>
  components: { schemas: Record<string, Schema> }
}

/** Where (component-relative paths) a request body accepts fields nobody named. */
function openObjects(document: Document): Map<string, string[]> {
  const found = new Map<string, string[]>()
  const visited = new Set<string>()
  const walk = (schema: Schema | undefined, where: string, operation: string) => {
    if (!schema) return
    if (schema.$ref) {
      const name = schema.$ref.split('/').pop() as string
      if (visited.has(name)) return
      visited.add(name)
      return walk(document.components.schemas[name], name, operation)
    }
    for (const branch of [...(schema.allOf ?? []), ...(schema.anyOf ?? []), ...(schema.oneOf ?? [])])
      walk(branch, where, operation)
    const open = schema.additionalProperties !== false
    const isObject = schema.properties !== undefined || schema.type === 'object'
    if (isObject && open) found.set(where, [...(found.get(where) ?? []), operation])
    for (const [name, property] of Object.entries(schema.properties ?? {}))
      walk(property, `${where}.${name}`, operation)
    walk(schema.items, `${where}[]`, operation)
    if (typeof schema.additionalProperties === 'object')
      walk(schema.additionalProperties, `${where}{}`, operation)
  }
  for (const [path, operations] of Object.entries(document.paths))
    for (const [method, operation] of Object.entries(operations))
      for (const content of Object.values(operation.requestBody?.content ?? {})) {
        visited.clear()
        walk(content.schema, `${method.toUpperCase()} ${path}`, `${method.toUpperCase()} ${path}`)
      }
  return found
}

describe('request bodies in the OpenAPI document', () => {
  const document = generateOpenApiDocument() as unknown as Document

  it('are closed objects, except the open maps listed with their reason', () => {
    const open = openObjects(document)
    expect([...open.keys()].sort()).toEqual(Object.keys(openOnPurpose).sort())
  })

  it('cover every operation that takes a body (the walk sees them all)', () => {
    const withBody = Object.values(document.paths).flatMap((operations) =>
      Object.values(operations).filter((operation) => operation.requestBody),
    )
    expect(withBody.length).toBeGreaterThanOrEqual(30)
  })
})
