import { describe, expect, it } from 'vitest'
import { readMigrationsDir } from '../../src/platform/db/migration-files.ts'
import { MigrationError, parseMigrationFiles } from '../../src/platform/db/migrations.ts'

describe('parseMigrationFiles', () => {
  it('orders by version', () => {
    const parsed = parseMigrationFiles([
      { name: '0002_b.sql', text: 'b' },
      { name: '0001_a.sql', text: 'a' },
    ])
    expect(parsed.map((m) => m.name)).toEqual(['0001_a', '0002_b'])
  })

  it('rejects badly named files', () => {
    expect(() => parseMigrationFiles([{ name: '1_init.sql', text: '' }])).toThrow(MigrationError)
    expect(() => parseMigrationFiles([{ name: '0001_Init.sql', text: '' }])).toThrow(/NNNN_lower_snake_name/)
  })

  it('rejects two files with one version', () => {
    expect(() =>
      parseMigrationFiles([
        { name: '0001_a.sql', text: '' },
        { name: '0001_b.sql', text: '' },
      ]),
    ).toThrow(/share version 1/)
  })

  it('reads the repository migrations', () => {
    const migrations = readMigrationsDir()
    expect(migrations.length).toBeGreaterThan(0)
    expect(migrations[0]?.version).toBe(1)
  })
})
