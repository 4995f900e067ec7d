// The same service built for Node (dist/node/main.js, @hono/node-server), against the real
// PostgreSQL and Redis, driven through the typed client.
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { createPgAnalyticsClient } from '../../client/index.ts'
import { createTestDatabase } from '../harness/postgres.ts'
import { testMasterKey } from '../support/master-key.ts'
import {
  ensureBuilt,
  nodeBundlePath,
  repoRoot,
  type ServiceProcess,
  startService,
} from '../support/service-process.ts'

let service: ServiceProcess
beforeAll(async () => {
  await ensureBuilt()
  service = await startService({
    command: process.execPath,
    args: [nodeBundlePath],
    env: {
      DATABASE_URL: await createTestDatabase(inject('pgUrl')),
      PGA_MASTER_KEY: testMasterKey,
      REDIS_URL: inject('redisUrl'),
      PGA_REDIS_KEY_PREFIX: 'node:',
    },
  })
}, 180_000)
afterAll(async () => {
  await service?.stop()
})

describe('Node build', () => {
  it('runs on Node and reports it', async () => {
    const { data } = await createPgAnalyticsClient(service.url).GET('/api/v1/version')
    expect(data?.runtime).toBe(`node ${process.versions.node}`)
  })

  it('is ready with PostgreSQL and Redis and serves the validated route', async () => {
    const client = createPgAnalyticsClient(service.url)
    expect((await client.GET('/readyz')).response.status).toBe(200)
    const bad = await client.POST('/api/v1/config/check', { body: { env: { PGA_DB_SSL: 'maybe' } } })
    expect(bad.error).toMatchObject({
      status: 400,
      code: 'validation_failed',
      errors: [{ path: 'body.env.PGA_DB_SSL' }],
    })
  })

  it('prints the whole OpenAPI document through a pipe', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [nodeBundlePath, 'openapi'], {
      maxBuffer: 8 * 1024 * 1024,
    })
    expect(stdout).toBe(readFileSync(join(repoRoot, 'openapi', 'openapi.json'), 'utf8'))
  })

  it('serves the docs UI files from node_modules', async () => {
    const res = await fetch(`${service.url}/docs/swagger-ui-bundle.js`)
    expect(res.status).toBe(200)
    expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(1_000_000)
  })

  it('drains and exits 0 on SIGTERM', async () => {
    expect(await service.stop('SIGTERM')).toBe(0)
    expect(service.lines.join('\n')).toMatch(/"msg":"stopped","drained":true/)
  })
})
