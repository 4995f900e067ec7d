// The compiled binary, copied alone into an empty directory (no node_modules, no source tree),
// started with embedded defaults and against the real PostgreSQL and Redis, driven through the
// generated typed client.

import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { createPgAnalyticsClient } from '../../client/index.ts'
import { closePasswordHashing, hashPassword, verifyPassword } from '../../src/auth/passwords.ts'
import { readMigrationsDir } from '../../src/platform/db/migration-files.ts'
import { createTestDatabase } from '../harness/postgres.ts'
import { run, tempDir } from '../harness/processes.ts'
import { testMasterKey } from '../support/master-key.ts'
import { binaryInEmptyDir, repoRoot, type ServiceProcess, startService } from '../support/service-process.ts'
import { until } from '../support/until.ts'

let dir: string
let binary: string

beforeAll(async () => {
  binary = await binaryInEmptyDir('binary')
  dir = dirname(binary)
}, 180_000)

describe('pganalytics binary: command line', () => {
  it('prints usage with --help and exits 0', async () => {
    const { stdout } = await run(binary, ['--help'], { cwd: dir })
    expect(stdout).toMatch(/Usage:\n\s+pganalytics serve/)
  })

  it('embeds the version and the git revision', async () => {
    const { stdout } = await run(binary, ['version', '--json'], { cwd: dir })
    const info = JSON.parse(stdout)
    const { stdout: head } = await run('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: repoRoot })
    expect(info.version).toBe(JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).version)
    expect(info.revision.slice(0, 12)).toBe(head.trim())
    expect(info.runtime).toMatch(/^bun /)
  })

  it('exits 2 with a one-line reason on a wrong flag', async () => {
    const error = await run(binary, ['serve', '--prot', '1'], { cwd: dir }).catch((e) => e)
    expect(error.code).toBe(2)
    expect(error.stderr.trim().split('\n')).toHaveLength(1)
    expect(error.stderr).toMatch(/^pganalytics: serve: Unknown option '--prot'/)
  })

  it('exits 2 naming the variable when the configuration is bad', async () => {
    const error = await run(binary, ['serve'], { cwd: dir, env: { PGA_PORT: 'eighty' } }).catch((e) => e)
    expect(error.code).toBe(2)
    expect(error.stderr).toContain('PGA_PORT: expected an integer between 0 and 65535')
  })

  it('prints the same OpenAPI document as the committed one', async () => {
    const { stdout } = await run(binary, ['openapi'], { cwd: dir, maxBuffer: 8 * 1024 * 1024 })
    expect(stdout).toBe(readFileSync(join(repoRoot, 'openapi', 'openapi.json'), 'utf8'))
  })
})

const embeddedToken = 'embedded-binary-admin-token-0123456789'

describe('pganalytics binary: embedded defaults', () => {
  let service: ServiceProcess
  beforeAll(async () => {
    service = await startService({
      command: binary,
      cwd: dir,
      timeoutMs: 60_000,
      env: { PGA_ADMIN_TOKEN: embeddedToken },
    })
  }, 90_000)
  afterAll(async () => {
    await service?.stop()
  })

  it('announces single-replica mode loudly and keeps its data in ./data', async () => {
    expect(service.lines.join('\n')).toMatch(/EMBEDDED STORE: .*single replica only/)
    expect(service.lines.join('\n')).toMatch(/IN-MEMORY STATE: .*single replica only/)
    expect(existsSync(join(dir, 'data', 'pglite', 'PG_VERSION'))).toBe(true)
    expect(readFileSync(join(dir, 'data', 'pganalytics.pid'), 'utf8')).toBe(String(service.child.pid))
  })

  it('serves health, docs and the OpenAPI document', async () => {
    const client = createPgAnalyticsClient(service.url)
    const { data: health } = await client.GET('/api/v1/health')
    expect(health).toMatchObject({
      status: 'ok',
      singleReplicaOnly: true,
      checks: { store: { kind: 'embedded' }, state: { kind: 'memory' } },
    })
    const script = await fetch(`${service.url}/docs/swagger-ui-bundle.js`)
    expect(script.status).toBe(200)
    expect((await script.arrayBuffer()).byteLength).toBeGreaterThan(1_000_000)
    expect((await fetch(`${service.url}/openapi.json`)).status).toBe(200)
  })

  it('registers its own store on first start and has data for it within a minute', async () => {
    const auth = { headers: { Authorization: `Bearer ${embeddedToken}` } }
    const list = await (await fetch(`${service.url}/api/v1/instances`, auth)).json()
    const self = list.items.find((i: { isSelf: boolean }) => i.isSelf)
    expect(self).toMatchObject({ name: 'pganalytics-store', tags: { role: 'self' } })
    let groups: string[] = []
    await until(
      'snapshots of the database, settings, wal and activity groups',
      async () => {
        const snaps = await (
          await fetch(`${service.url}/api/v1/instances/${self.id}/snapshots?status=ok&limit=1000`, auth)
        ).json()
        groups = [...new Set<string>(snaps.items.map((s: { group: string }) => s.group))].sort()
        return ['database', 'settings', 'wal', 'activity'].every((g) => groups.includes(g))
      },
      { timeoutMs: 60_000, intervalMs: 500, explain: () => groups.join(', ') },
    )
    expect(groups).toEqual(
      expect.arrayContaining(['activity', 'bgwriter', 'checkpointer', 'database', 'settings', 'wal']),
    )
    const latest = await (
      await fetch(`${service.url}/api/v1/instances/${self.id}/metrics/database/latest`, auth)
    ).json()
    expect(latest.rows.length).toBeGreaterThan(0)
  })

  it('refuses a second process on the same data directory', async () => {
    const error = await run(binary, ['migrate'], { cwd: dir }).catch((e) => e)
    expect(error.code).toBe(1)
    expect(error.stderr).toMatch(/data directory .* is in use by another pganalytics process \(pid \d+\)/)
  })

  it('stops cleanly on SIGTERM and releases the data directory', async () => {
    expect(await service.stop('SIGTERM')).toBe(0)
    expect(existsSync(join(dir, 'data', 'pganalytics.pid'))).toBe(false)
    const { stdout } = await run(binary, ['migrate'], { cwd: dir })
    expect(stdout).toContain(`"alreadyApplied":${readMigrationsDir().length}`)
  })
})

const admin = { email: 'binary-admin@example.com', password: 'a binary admin passphrase' }
const signIn = (url: string, email: string, password: string) =>
  fetch(`${url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email, password }),
  })

describe('pganalytics binary: external PostgreSQL and Redis', () => {
  let service: ServiceProcess
  let databaseUrl: string
  beforeAll(async () => {
    databaseUrl = await createTestDatabase(inject('pgUrl'))
    service = await startService({
      command: binary,
      cwd: dir,
      env: {
        DATABASE_URL: databaseUrl,
        REDIS_URL: inject('redisUrl'),
        PGA_REDIS_KEY_PREFIX: 'bin:',
        PGA_MASTER_KEY: testMasterKey,
        PGA_ADMIN_EMAIL: admin.email,
        PGA_ADMIN_PASSWORD: admin.password,
      },
    })
  }, 60_000)
  afterAll(async () => {
    await service?.stop()
    await closePasswordHashing()
  })

  it('is ready with both external dependencies and says it can run as many replicas', async () => {
    const client = createPgAnalyticsClient(service.url)
    const { data, response } = await client.GET('/readyz')
    expect(response.status).toBe(200)
    expect(data?.checks).toMatchObject({
      store: { status: 'up', kind: 'postgres' },
      state: { status: 'up', kind: 'redis' },
    })
    const { data: health } = await client.GET('/api/v1/health')
    expect(health?.singleReplicaOnly).toBe(false)
  })

  it('validates JSON through the typed client, with problem+json on bad input', async () => {
    const client = createPgAnalyticsClient(service.url)
    const ok = await client.POST('/api/v1/config/check', { body: { env: { PGA_PORT: '9000' } } })
    expect(ok.data).toMatchObject({ valid: true, store: 'embedded' })
    const bad = await client.POST('/api/v1/config/check', { body: { env: { PGA_PORT: 'x' } } })
    expect(bad.response.status).toBe(400)
    expect(bad.response.headers.get('Content-Type')).toBe('application/problem+json')
    expect(bad.error).toMatchObject({ code: 'validation_failed', errors: [{ path: 'body.env.PGA_PORT' }] })
  })

  it('refuses a body whose Content-Length exceeds the limit, before reading it', async () => {
    const res = await fetch(`${service.url}/api/v1/config/check`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ env: { PGA_HOST: 'x'.repeat(1_100_000) } }),
    })
    expect(res.status).toBe(413)
    expect(await res.json()).toMatchObject({
      code: 'payload_too_large',
      detail: 'The request body exceeds 1048576 bytes.',
    })
  })

  it('exposes metrics that promtool accepts', async () => {
    await fetch(`${service.url}/api/v1/nope`)
    const text = await (await fetch(`${service.url}/metrics`)).text()
    for (const name of [
      'pga_http_request_duration_seconds_bucket{method="POST",route="/api/v1/config/check",status="400"',
      'pga_http_request_duration_seconds_count{method="GET",route="unmatched",status="404"}',
      'pga_http_requests_in_flight 1',
      'pga_event_loop_lag_seconds',
      'pga_dependency_up{dependency="store",kind="postgres"} 1',
      'pga_dependency_up{dependency="state",kind="redis"} 1',
      'pga_store_pool_size{kind="postgres"} 10',
      'pga_build_info{version=',
    ]) {
      expect(text).toContain(name)
    }
    const file = join(dir, 'scrape.txt')
    writeFileSync(file, text)
    const { stdout, stderr } = await run('bash', ['-c', `promtool check metrics < ${file}`])
    expect(`${stdout}${stderr}`.trim()).toBe('')
  })

  it('renders the API reference in a real browser with no internet and no CSP violation', async () => {
    const profile = tempDir('chromium')
    const { stdout, stderr } = await run(
      'chromium',
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        `--user-data-dir=${profile}`,
        '--enable-logging=stderr',
        '--v=0',
        '--virtual-time-budget=8000',
        '--dump-dom',
        `${service.url}/docs`,
      ],
      { maxBuffer: 32 * 1024 * 1024, timeout: 60_000 },
    )
    // Swagger UI rendered one block per operation of the document.
    for (const path of ['/livez', '/readyz', '/api/v1/health', '/api/v1/config/check']) {
      expect(stdout).toContain(`data-path="${path}"`)
    }
    const console = stderr.split('\n').filter((line) => line.includes(':CONSOLE'))
    expect(
      console.filter((line) => /Content Security Policy|Refused|Failed to load|Uncaught/.test(line)),
    ).toEqual([])
    const requested = service.lines
      .filter((l) => l.includes('"msg":"request"'))
      .map((l) => JSON.parse(l).path)
    expect(requested).toEqual(
      expect.arrayContaining([
        '/docs',
        '/docs/swagger-ui-bundle.js',
        '/docs/swagger-ui.css',
        '/openapi.json',
      ]),
    )
  }, 90_000)

  it('recorded its migrations in the external store', async () => {
    const sql = postgres(databaseUrl, { max: 1 })
    const rows = await sql`select name from pga_schema_migrations order by version`
    await sql.end()
    expect(rows.map((r) => r.name)).toContain('0001_service_info')
  })

  it('hashes with Bun.password, and signs in with hashes made by hash-wasm on Node, refusing bcrypt', async () => {
    const sql = postgres(databaseUrl, { max: 1 })
    try {
      // The administrator's hash was made by the binary at start: Bun.password (a 32-byte salt),
      // same argon2id parameters; hash-wasm (on this Node process's worker pool) verifies it.
      const signedIn = await signIn(service.url, admin.email, admin.password)
      expect(signedIn.status).toBe(200)
      const token = ((await signedIn.json()) as { access_token: string }).access_token
      const [own] = await sql<{ hash: string }[]>`
        select password_hash as hash from auth_users where email = ${admin.email}`
      expect(own?.hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{43}\$[A-Za-z0-9+/]{43}$/)
      expect(await verifyPassword(admin.password, own?.hash as string)).toBe(true)
      expect(await verifyPassword(`${admin.password}!`, own?.hash as string)).toBe(false)

      // A user whose hash hash-wasm made (every hash stored before this change): the binary verifies it.
      const email = 'hash-wasm@example.com'
      const password = 'Grüße aus der Wüste, horse'
      const created = await fetch(`${service.url}/api/v1/users`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
        body: JSON.stringify({ email, role: 'viewer', password: 'a placeholder passphrase' }),
      })
      expect(created.status).toBe(201)
      const fromNode = await hashPassword(password, { memoryKib: 19456, iterations: 2, parallelism: 1 })
      expect(fromNode).toMatch(/\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/)
      await sql`update auth_users set password_hash = ${fromNode} where email = ${email}`
      expect((await signIn(service.url, email, password.normalize('NFD'))).status).toBe(200)
      expect((await signIn(service.url, email, 'Grüße aus der Wüste, hors')).status).toBe(401)

      // Bun.password would accept a bcrypt hash; the service refuses anything but argon2id.
      const bcrypt = '$2b$10$flaV5J.iizZlOmL1A6MyM.1n8GQT9EFX01o8F4SY4OZq.6FLRoGoq'
      await sql`update auth_users set password_hash = ${bcrypt} where email = ${email}`
      const refused = await signIn(service.url, email, password)
      expect(refused.status).toBe(401)
      expect(((await refused.json()) as { code: string }).code).toBe('invalid_credentials')
      expect((await signIn(service.url, 'nobody@example.com', password)).status).toBe(401)
    } finally {
      await sql.end()
    }
  })
})

describe('several replicas starting at once', () => {
  it('all become ready and each migration is applied exactly once', async () => {
    const databaseUrl = await createTestDatabase(inject('pgUrl'))
    const env = { DATABASE_URL: databaseUrl, REDIS_URL: inject('redisUrl'), PGA_MASTER_KEY: testMasterKey }
    const replicas = await Promise.all(
      Array.from({ length: 3 }, () => startService({ command: binary, cwd: dir, env })),
    )
    try {
      const applied = replicas.flatMap((r) => r.lines.filter((line) => line.includes('"migration applied"')))
      const sql = postgres(databaseUrl, { max: 1 })
      const rows = await sql`select version from pga_schema_migrations`
      await sql.end()
      expect(applied.length).toBe(rows.length)
    } finally {
      await Promise.all(replicas.map((r) => r.stop()))
    }
  }, 60_000)
})
