// The permission matrix of docs/AUTHENTICATION.md is the one src/auth/permissions.ts enforces:
// every permission, every role (the agent role of instance-bound keys included), every cell.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { apiKeyRoles, permissions, rolePermissions } from '../../src/auth/permissions.ts'

const doc = readFileSync(new URL('../../docs/AUTHENTICATION.md', import.meta.url), 'utf8')

describe('docs/AUTHENTICATION.md permission matrix', () => {
  it('shows exactly the roles and permissions of the code', () => {
    const header = /^\| Permission \|(.*)\|$/m.exec(doc)?.[1] ?? ''
    const columns = header.split('|').map((c) => c.trim().split(' ')[0])
    expect(columns).toEqual([...apiKeyRoles])
    const rows = [...doc.matchAll(/^\| `([a-z_:]+)` \|((?: (?:yes|—) \|)+)$/gm)].map((m) => ({
      permission: m[1] as string,
      cells: (m[2] as string)
        .split('|')
        .map((c) => c.trim())
        .filter(Boolean),
    }))
    expect(rows.map((r) => r.permission)).toEqual([...permissions])
    for (const { permission, cells } of rows) {
      const expected = apiKeyRoles.map((role) =>
        rolePermissions[role].includes(permission as never) ? 'yes' : '—',
      )
      expect(cells, permission).toEqual(expected)
    }
  })
})
