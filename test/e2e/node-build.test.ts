// The same service built for Node (dist/node/main.js, @hono/node-server), against the real
// PostgreSQL and Redis, driven through the typed client.
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import postgres from 'postgres'
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
let databaseUrl: string
const admin = { email: 'node-admin@example.com', password: 'a node admin passphrase' }
beforeAll(async () => {
  await ensureBuilt()
  databaseUrl = await createTestDatabase(inject('pgUrl'))
  service = await startService({
    command: process.execPath,
    args: [nodeBundlePath],
    env: {
      DATABASE_URL: databaseUrl,
      PGA_ADMIN_EMAIL: admin.email,
      PGA_ADMIN_PASSWORD: admin.password,
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

  it('signs in, hashing on its worker pool (hash-wasm: a 16-byte salt)', async () => {
    const signIn = (password: string) =>
      fetch(`${service.url}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ email: admin.email, password }),
      })
    const results = await Promise.all([admin.password, 'not the passphrase', admin.password].map(signIn))
    expect(results.map((r) => r.status)).toEqual([200, 401, 200])
    const sql = postgres(databaseUrl, { max: 1 })
    const [row] = await sql<
      { hash: string }[]
    >`select password_hash as hash from auth_users where email = ${admin.email}`
    await sql.end()
    expect(row?.hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/)
  })

  it('drains and exits 0 on SIGTERM', async () => {
    expect(await service.stop('SIGTERM')).toBe(0)
    expect(service.lines.join('\n')).toMatch(/"msg":"stopped","drained":true/)
  })
})
