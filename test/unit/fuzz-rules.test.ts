// The answers the fuzz run accepts where schemathesis expected another (test/fuzz/accepted-rules.json,
// applied by test/fuzz/hooks.py) are the rules docs/API_ROBUSTNESS.md lists as not stated in the
// OpenAPI document: each one names a real operation and appears in the doc's table.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { generateOpenApiDocument } from '../../src/openapi-document.ts'
import { operationLabels } from '../support/fuzz.ts'

const root = join(import.meta.dirname, '..', '..')
const { rules } = JSON.parse(readFileSync(join(root, 'test', 'fuzz', 'accepted-rules.json'), 'utf8')) as {
  rules: { operation: string; code: string; check?: string; rule: string }[]
}
const doc = readFileSync(join(root, 'docs', 'API_ROBUSTNESS.md'), 'utf8')
const table = doc.slice(doc.indexOf('## Rules the document does not state'), doc.indexOf('## Fuzzing'))
const labels = operationLabels(generateOpenApiDocument() as never)

describe('accepted fuzz answers', () => {
  it.each(rules.map((r) => [`${r.operation} ${r.code}`, r] as const))(
    '%s: a real operation, in the doc',
    (_, r) => {
      if (r.operation !== '*') expect(labels).toContain(r.operation)
      const [method, path] = r.operation.split(' ')
      if (r.operation !== '*') expect(table).toContain(`${method} ${path}`)
      expect(table).toContain(r.code.replace('*', ''))
      expect(['ST202', 'ST101']).toContain(r.check ?? 'ST202')
    },
  )

  it('a 5xx is accepted only where the operation documents it', () => {
    for (const r of rules.filter((r) => r.check === 'ST101')) {
      const [method, path] = r.operation.split(' ') as [string, string]
      const operation = (
        generateOpenApiDocument() as unknown as {
          paths: Record<string, Record<string, { responses: object }>>
        }
      ).paths[path]?.[method.toLowerCase()]
      expect(Object.keys(operation?.responses ?? {})).toContain('503')
    }
  })
})
