// The command line in-process (the binary e2e covers the same commands as a real process).
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, inject, it } from 'vitest'
import { runCli } from '../../src/cli.ts'
import { readMigrationsDir } from '../../src/platform/db/migration-files.ts'
import { nodeRuntime } from '../../src/runtime/node.ts'
import { createTestDatabase } from '../harness/postgres.ts'
import { tempDir } from '../harness/processes.ts'
import { testMasterKey } from '../support/master-key.ts'

async function cli(argv: string[], env: Record<string, string> = {}) {
  let out = ''
  let err = ''
  const code = await runCli(argv, nodeRuntime, { env, out: (t) => (out += t), err: (t) => (err += t) })
  return { code, out, err }
}

describe('pganalytics CLI', () => {
  it.each([[[]], [['--help']], [['help']], [['serve', '--help']]])(
    '%j prints usage and exits 0',
    async (argv) => {
      const { code, out } = await cli(argv)
      expect(code).toBe(0)
      expect(out).toContain('pganalytics migrate')
    },
  )

  it.each([
    [['frobnicate'], 'pganalytics: unknown command "frobnicate"; run "pganalytics --help"'],
    [['--verbose'], 'pganalytics: unknown option "--verbose"; run "pganalytics --help"'],
    [['migrate', '--force'], "pganalytics: migrate: Unknown option '--force'"],
    [['openapi', '--output'], "pganalytics: openapi: Option '--output <value>' argument missing"],
  ])('%j exits 2 with a one-line reason', async (argv, reason) => {
    const { code, err } = await cli(argv)
    expect(code).toBe(2)
    expect(err.trim().split('\n')).toHaveLength(1)
    expect(err.trim().startsWith(reason)).toBe(true)
  })

  it('exits 2 naming each bad variable', async () => {
    const { code, err } = await cli(['migrate'], { PGA_DB_POOL_SIZE: 'lots', REDIS_URL: 'tcp://x' })
    expect(code).toBe(2)
    expect(err).toContain('PGA_DB_POOL_SIZE: expected an integer between 1 and 500')
    expect(err).toContain('REDIS_URL: expected a URL starting with redis:// or rediss://')
  })

  it('prints the committed OpenAPI document, and --check catches drift', async () => {
    const committed = join(import.meta.dirname, '..', '..', 'openapi', 'openapi.json')
    const { code, out } = await cli(['openapi'])
    expect(code).toBe(0)
    expect(out).toBe(readFileSync(committed, 'utf8'))
    expect((await cli(['openapi', '--check', committed])).code).toBe(0)
    const stale = join(tempDir('openapi'), 'openapi.json')
    writeFileSync(stale, out.replace('"/livez"', '"/alive"'))
    const drift = await cli(['openapi', '--check', stale])
    expect(drift.code).toBe(1)
    expect(drift.err).toContain('is out of date with the routes')
  })

  it('migrate applies migrations against DATABASE_URL and is idempotent', async () => {
    const env = { DATABASE_URL: await createTestDatabase(inject('pgUrl')), PGA_MASTER_KEY: testMasterKey }
    const first = await cli(['migrate'], env)
    expect(first.code).toBe(0)
    expect(first.out).toContain('"migration applied","migration":"0001_service_info"')
    const second = await cli(['migrate'], env)
    expect(second.out).toContain(`"applied":[],"alreadyApplied":${readMigrationsDir().length}`)
  })

  it('migrate fails with exit 1 and a clear message when the store is unreachable', async () => {
    const { code, err } = await cli(['migrate'], {
      DATABASE_URL: 'postgres://pga:hunter2@127.0.0.1:1/x',
      PGA_MASTER_KEY: testMasterKey,
      PGA_DB_CONNECT_TIMEOUT: '2s',
    })
    expect(code).toBe(1)
    expect(err).toMatch(/^pganalytics: .*ECONNREFUSED/)
    expect(err).not.toContain('hunter2')
  })
})
