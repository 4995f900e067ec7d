// docs/CONFIGURATION.md must list exactly the variables of the schema, with the same defaults
// and examples that the schema accepts.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { configVariables, loadConfig } from '../../src/config.ts'

const doc = readFileSync(new URL('../../docs/CONFIGURATION.md', import.meta.url), 'utf8')
const rows = [...doc.matchAll(/^\| `([A-Z0-9_]+)` \| ([^|]+) \| `([^`]*)` \| ([^|]+) \|$/gm)].map((m) => ({
  name: m[1] as string,
  default: (m[2] as string).trim(),
  example: m[3] as string,
}))

describe('docs/CONFIGURATION.md', () => {
  it('lists every variable of the schema, and no other', () => {
    expect(rows.map((r) => r.name).sort()).toEqual(Object.keys(configVariables).sort())
  })

  it('states each default as the schema has it', () => {
    for (const row of rows) {
      const schemaDefault = configVariables[row.name as keyof typeof configVariables].default as
        | string
        | undefined
      const shown =
        schemaDefault === undefined ? '(unset)' : schemaDefault === '' ? '(empty)' : `\`${schemaDefault}\``
      expect(row.default, row.name).toBe(shown)
    }
  })

  it('gives examples the schema accepts', () => {
    for (const row of rows) {
      const env: Record<string, string> = { [row.name]: row.example }
      // Some variables are only valid together with others.
      if (row.name.startsWith('PGA_REDIS_')) env.REDIS_URL = 'redis://127.0.0.1:6379'
      if (row.name === 'PGA_REDIS_MODE') env.PGA_REDIS_SENTINELS = 'a:1'
      if (row.name === 'DATABASE_URL') env.PGA_MASTER_KEY = 'q2V4cGxhaW5lZC1leGFtcGxlLWtleS0zMi1ieXRlcyE='
      if (row.name.startsWith('UPSTASH_'))
        Object.assign(env, { UPSTASH_REDIS_REST_URL: 'https://u.example', UPSTASH_REDIS_REST_TOKEN: 't' })
      expect(() => loadConfig(env), `${row.name}=${row.example}`).not.toThrow()
    }
  })
})
