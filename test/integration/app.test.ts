// The HTTP surface in-process (app.request) over a real PostgreSQL and Redis.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestApp, type TestApp } from '../support/app.ts'
import { testMasterKey } from '../support/master-key.ts'

let t: TestApp
beforeAll(async () => {
  t = await startTestApp({ PGA_BODY_LIMIT: '2048' })
})
afterAll(async () => {
  await t.close()
})

const postJson = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  t.app.request(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })

describe('probes and system endpoints', () => {
  it('/livez answers without touching dependencies', async () => {
    const res = await t.app.request('/livez')
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ status: 'ok' })
  })

  it('/readyz is 200 with both dependencies up', async () => {
    const res = await t.app.request('/readyz')
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({
      ready: true,
      phase: 'ready',
      checks: { store: { status: 'up', kind: 'postgres' }, state: { status: 'up', kind: 'redis' } },
    })
  })

  it('/api/v1/health reports a shared (multi-replica) setup', async () => {
    const res = await t.app.request('/api/v1/health')
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ status: 'ok', phase: 'ready', singleReplicaOnly: false })
  })

  it('/api/v1/version gives version, revision and runtime', async () => {
    expect(await (await t.app.request('/api/v1/version')).json()).toMatchObject({
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
      revision: expect.any(String),
      runtime: expect.stringMatching(/^(node|bun) /),
      apiVersion: 'v1',
    })
  })
})

describe('readiness follows the lifecycle and the dependencies', () => {
  it('is 503 while starting and while draining', async () => {
    const other = await startTestApp({}, { ready: false })
    try {
      expect((await other.app.request('/readyz')).status).toBe(503)
      expect(await (await other.app.request('/readyz')).json()).toEqual({ ready: false, phase: 'starting' })
      expect((await other.app.request('/api/v1/version')).status).toBe(200)
      // Not ready is an expected answer: logged as a warning, not an error.
      const logged = other.logs.lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'request')
      expect(logged.map((l) => [l.status, l.level])).toEqual([
        [503, 'warn'],
        [503, 'warn'],
        [200, 'info'],
      ])
      // An API request that arrives while starting waits for the replica, then runs.
      const early = Promise.resolve(other.app.request('/api/v1/instances'))
      let answered = false
      void early.then(() => {
        answered = true
      })
      await new Promise((r) => setTimeout(r, 200))
      expect(answered).toBe(false)
      other.deps.lifecycle.markReady()
      expect((await early).status).toBe(401)
      // Background work (collector, sealer...) starts once readiness has been answered.
      expect(other.deps.lifecycle.readinessKnown).toBe(false)
      expect((await other.app.request('/readyz')).status).toBe(200)
      expect(other.deps.lifecycle.readinessKnown).toBe(true)
      await other.deps.lifecycle.readinessReported(60_000)
      other.deps.lifecycle.startDraining()
      const draining = await other.app.request('/readyz')
      expect(draining.status).toBe(503)
      expect(draining.headers.get('Connection')).toBe('close')
      expect((await other.app.request('/livez')).status).toBe(200)
    } finally {
      await other.close()
    }
  })

  it('is 503 when the state store is unreachable, without leaking its address', async () => {
    const other = await startTestApp({ REDIS_URL: 'redis://:hunter2@127.0.0.1:1' })
    try {
      const res = await other.app.request('/readyz')
      expect(res.status).toBe(503)
      const body = await res.json()
      expect(body).toMatchObject({
        ready: false,
        checks: { store: { status: 'up' }, state: { status: 'down', kind: 'redis' } },
      })
      expect(JSON.stringify(body)).not.toMatch(/hunter2|127\.0\.0\.1/)
      expect((await other.app.request('/api/v1/health')).status).toBe(503)
      // A request that needs the state store: 503 the client may retry, not an opaque 500.
      const login = await other.app.request(
        '/api/v1/auth/login',
        {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ email: 'a@example.com', password: 'whatever it is' }),
        },
        { peerAddress: '192.0.2.1' },
      )
      expect([login.status, login.headers.get('Retry-After')]).toEqual([503, '2'])
      const problem = await login.json()
      expect(problem).toMatchObject({ code: 'state_store_unavailable' })
      expect(JSON.stringify(problem)).not.toMatch(/hunter2|127\.0\.0\.1/)
    } finally {
      await other.close()
    }
  })
})

describe('a store that went away', () => {
  it('answers 503 store_unavailable with Retry-After, not an opaque 500', async () => {
    const token = 'store-gone-admin-token-0123456789abcdef'
    const other = await startTestApp({ PGA_ADMIN_TOKEN: token })
    try {
      await other.deps.db.sql.end()
      const res = await other.app.request('/api/v1/instances', {
        headers: { Authorization: `Bearer ${token}` },
      })
      expect([res.status, res.headers.get('Retry-After')]).toEqual([503, '2'])
      expect(await res.json()).toMatchObject({ code: 'store_unavailable', status: 503 })
      expect(other.logs.lines.some((l) => l.includes('dependency unavailable'))).toBe(true)
    } finally {
      await other.close()
    }
  })
})

describe('errors are RFC 9457 problem+json with a stable code', () => {
  it('unknown route: 404 not_found', async () => {
    const res = await t.app.request('/api/v1/nope')
    expect(res.status).toBe(404)
    expect(res.headers.get('Content-Type')).toBe('application/problem+json')
    expect(await res.json()).toMatchObject({
      status: 404,
      code: 'not_found',
      instance: '/api/v1/nope',
      requestId: expect.any(String),
    })
  })

  it('zod failure: 400 validation_failed with field paths', async () => {
    const res = await postJson('/api/v1/config/check', { env: { 'bad name': 'x' } })
    expect(res.status).toBe(400)
    const body = await res.json()
    expect(body.code).toBe('validation_failed')
    expect(body.errors).toEqual([expect.objectContaining({ path: 'body.env.bad name' })])
  })

  it('missing body field: 400 naming the field', async () => {
    const body = await (await postJson('/api/v1/config/check', {})).json()
    expect(body).toMatchObject({ status: 400, code: 'validation_failed', errors: [{ path: 'body.env' }] })
  })

  it('invalid configuration values: 400 with one error per variable', async () => {
    const res = await postJson('/api/v1/config/check', { env: { PGA_PORT: 'http', PGA_LOG_LEVEL: 'loud' } })
    expect(res.status).toBe(400)
    expect((await res.json()).errors).toEqual([
      { path: 'body.env.PGA_PORT', message: 'expected an integer between 0 and 65535' },
      { path: 'body.env.PGA_LOG_LEVEL', message: 'expected one of debug, info, warn, error' },
    ])
  })

  it('malformed JSON: 400 malformed_json', async () => {
    const res = await postJson('/api/v1/config/check', '{"env": ')
    expect(res.status).toBe(400)
    expect(await res.json()).toMatchObject({ code: 'malformed_json' })
  })

  it('body over PGA_BODY_LIMIT: 413 payload_too_large', async () => {
    const res = await postJson('/api/v1/config/check', { env: { PGA_HOST: 'x'.repeat(3000) } })
    expect(res.status).toBe(413)
    expect(await res.json()).toMatchObject({
      code: 'payload_too_large',
      detail: 'The request body exceeds 2048 bytes.',
    })
  })

  it('body streamed without a length over PGA_BODY_LIMIT: 413, counted while reading', async () => {
    const chunk = new TextEncoder().encode(`{"env":{"PGA_HOST":"${'x'.repeat(1000)}`)
    let sent = 0
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 5) controller.enqueue(chunk)
        else controller.close()
      },
    })
    const res = await t.app.request('/api/v1/config/check', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body,
      duplex: 'half',
    } as RequestInit)
    expect(res.status).toBe(413)
    expect(await res.json()).toMatchObject({ code: 'payload_too_large' })
  })

  it('unexpected error: opaque 500 carrying the request id; details only in the log', async () => {
    const other = await startTestApp()
    try {
      other.app.get('/explode', () => {
        throw new Error('db password is hunter2')
      })
      const res = await other.app.request('/explode', { headers: { 'X-Request-Id': 'req-explode-0001' } })
      expect(res.status).toBe(500)
      const body = await res.json()
      expect(body).toMatchObject({ code: 'internal_error', requestId: 'req-explode-0001' })
      expect(body.detail).toContain('req-explode-0001')
      expect(JSON.stringify(body)).not.toContain('hunter2')
      const logged = other.logs.lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'unhandled error')
      expect(logged).toMatchObject({
        requestId: 'req-explode-0001',
        error: { message: 'db password is hunter2' },
      })
    } finally {
      await other.close()
    }
  })
})

describe('config check', () => {
  it('returns the parsed configuration with secrets redacted and flags typos', async () => {
    const res = await postJson('/api/v1/config/check', {
      env: {
        DATABASE_URL: 'postgres://pga:hunter2@db/x',
        PGA_MASTER_KEY: testMasterKey,
        UPSTASH_REDIS_REST_URL: 'https://u.example',
        UPSTASH_REDIS_REST_TOKEN: 'tok-hunter2',
        PGA_PROT: '1',
      },
    })
    expect(res.status).toBe(200)
    const body = await res.json()
    expect(body).toMatchObject({ valid: true, store: 'postgres', state: 'upstash', singleReplicaOnly: false })
    expect(body.config.store.url).toBe('postgres://pga:[redacted]@db/x')
    expect(JSON.stringify(body)).not.toContain('hunter2')
    expect(body.warnings).toEqual(['PGA_PROT is not a pganalytics variable (typo?); it has no effect'])
  })
})

describe('request id, headers and logs', () => {
  it('echoes a well-formed X-Request-Id and replaces a malformed one', async () => {
    const kept = await t.app.request('/livez', { headers: { 'X-Request-Id': 'edge-proxy-1234' } })
    expect(kept.headers.get('X-Request-Id')).toBe('edge-proxy-1234')
    const replaced = await t.app.request('/livez', { headers: { 'X-Request-Id': 'bad id<script>' } })
    expect(replaced.headers.get('X-Request-Id')).toMatch(/^[0-9a-f-]{36}$/)
  })

  it.each([
    ['a JSON answer', '/livez'],
    ['a problem (404)', '/nowhere'],
    ['a 413 problem', '/api/v1/config/check'],
    ['the docs page', '/docs'],
  ])(
    'sets security headers and the request id on %s, and no CORS headers by default',
    async (_what, path) => {
      const init: RequestInit =
        path === '/api/v1/config/check'
          ? { method: 'POST', body: 'x'.repeat(3000), headers: { 'Content-Type': 'application/json' } }
          : { headers: { Origin: 'https://evil.example' } }
      const res = await t.app.request(path, init)
      expect(res.headers.get('X-Content-Type-Options')).toBe('nosniff')
      expect(res.headers.get('X-Frame-Options')).toBe('DENY')
      expect(res.headers.get('Content-Security-Policy')).toContain("script-src 'self'")
      expect(res.headers.get('X-Request-Id')).toMatch(/^[0-9a-f-]{36}$/)
      expect(res.headers.get('Access-Control-Allow-Origin')).toBeNull()
    },
  )

  it('allows only the configured CORS origins', async () => {
    const other = await startTestApp({ PGA_CORS_ORIGINS: 'https://grafana.example' })
    try {
      const preflight = { method: 'OPTIONS', headers: { 'Access-Control-Request-Method': 'POST' } }
      const ok = await other.app.request('/api/v1/config/check', {
        ...preflight,
        headers: { ...preflight.headers, Origin: 'https://grafana.example' },
      })
      expect(ok.headers.get('Access-Control-Allow-Origin')).toBe('https://grafana.example')
      const no = await other.app.request('/api/v1/config/check', {
        ...preflight,
        headers: { ...preflight.headers, Origin: 'https://evil.example' },
      })
      expect(no.headers.get('Access-Control-Allow-Origin')).toBeNull()
    } finally {
      await other.close()
    }
  })

  it('logs one line per request with route, status, duration and request id, and no secrets', async () => {
    const before = t.logs.lines.length
    await postJson(
      '/api/v1/config/check?token=hunter2',
      { env: { DATABASE_URL: 'postgres://u:hunter2@h/db', PGA_MASTER_KEY: testMasterKey } },
      {
        Authorization: 'Bearer hunter2',
        Cookie: 'session=hunter2',
        'X-Request-Id': 'req-log-check-1',
      },
    )
    const lines = t.logs.lines.slice(before)
    const entries = lines.map((line) => JSON.parse(line)).filter((e) => e.msg === 'request')
    expect(entries).toEqual([
      expect.objectContaining({
        level: 'info',
        method: 'POST',
        route: '/api/v1/config/check',
        path: '/api/v1/config/check',
        status: 200,
        durationMs: expect.any(Number),
        requestId: 'req-log-check-1',
      }),
    ])
    expect(lines.join('\n')).not.toContain('hunter2')
  })
})

describe('OpenAPI and docs', () => {
  it('serves the OpenAPI 3.1 document', async () => {
    const doc = await (await t.app.request('/openapi.json')).json()
    expect(doc.openapi).toBe('3.1.0')
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/livez',
        '/readyz',
        '/api/v1/health',
        '/api/v1/version',
        '/metrics',
        '/api/v1/config/check',
      ]),
    )
  })

  it('serves the reference UI with every file from this server, nothing from elsewhere', async () => {
    const page = await (await t.app.request('/docs')).text()
    const files = [...page.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1])
    expect(files.sort()).toEqual([
      '/docs/favicon-32x32.png',
      '/docs/init.js',
      '/docs/swagger-ui-bundle.js',
      '/docs/swagger-ui.css',
    ])
    expect(page).not.toMatch(/https?:\/\//)
    const script = await t.app.request('/docs/swagger-ui-bundle.js')
    expect(script.headers.get('Content-Type')).toContain('javascript')
    expect((await script.arrayBuffer()).byteLength).toBeGreaterThan(1_000_000)
    expect((await t.app.request('/docs/swagger-ui.css')).headers.get('Content-Type')).toContain('text/css')
    expect(await (await t.app.request('/docs/init.js')).text()).toContain('validatorUrl: null')
    expect((await t.app.request('/docs/package.json')).status).toBe(404)
  })
})
