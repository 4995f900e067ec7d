// What `serve` hands the HTTP server: the probes app answers from the start and each capability
// of the API loads on the first request for one of its routes (src/serving-app.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createServingApp } from '../../src/serving-app.ts'
import { startTestApp, type TestApp } from '../support/app.ts'

const adminToken = 'serving-app-admin-token-0123456789abcdef'
let t: TestApp
beforeAll(async () => {
  t = await startTestApp({ PGA_ADMIN_TOKEN: adminToken })
})
afterAll(() => t.close())

const request = (serving: ReturnType<typeof createServingApp>, path: string, init?: RequestInit) =>
  serving.fetch(new Request(`http://127.0.0.1${path}`, init), {})

describe('serving app', () => {
  it('answers probes, version, docs and the OpenAPI document without loading any capability', async () => {
    const serving = createServingApp(t.deps)
    expect((await request(serving, '/livez')).status).toBe(200)
    expect((await request(serving, '/readyz')).status).toBe(200)
    const version = await request(serving, '/api/v1/version?x=1')
    expect(version.status).toBe(200)
    expect(version.headers.get('x-request-id')).toBeTruthy()
    expect((await request(serving, '/docs')).status).toBe(200)
    // A probe path asked with another method is the probes app's 405, not a reason to load.
    const post = await request(serving, '/livez', { method: 'POST' })
    expect(post.status).toBe(405)
    expect(post.headers.get('allow')).toBe('GET, HEAD')
    // The committed document is the one the routes produce.
    const served = await request(serving, '/openapi.json')
    expect(served.status).toBe(200)
    expect(served.headers.get('content-type')).toMatch(/^application\/json/)
    expect(await served.json()).toEqual(await (await t.app.request('/openapi.json')).json())
    expect(serving.loadedCapabilities).toEqual([])
  })

  it('answers 404 and 405 from the whole API without loading any capability', async () => {
    const serving = createServingApp(t.deps)
    for (const [method, path] of [
      ['GET', '/no/such/path'],
      ['GET', '/api/v1/backups/trigger'],
      ['PUT', '/api/v1/instances'],
      ['POST', '/api/v1/instances/i1/report'],
      ['DELETE', '/api/v1/audit/logs'],
      ['OPTIONS', '/api/v1/users/u1'],
    ] as const) {
      const answer = await request(serving, path, { method })
      const whole = await t.app.request(path, { method })
      expect(`${method} ${path} ${answer.status} ${answer.headers.get('allow')}`).toBe(
        `${method} ${path} ${whole.status} ${whole.headers.get('allow')}`,
      )
      expect(answer.status === 404 || answer.status === 405).toBe(true)
      const problem = (await answer.json()) as { code: string }
      expect(problem.code).toBe(((await whole.json()) as { code: string }).code)
    }
    expect(serving.loadedCapabilities).toEqual([])
  })

  it('loads the capability a request is for, once for requests that come together', async () => {
    const loads = (capability: string) =>
      t.logs.lines
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .filter((line) => line.msg === 'API capability loaded' && line.capability === capability).length
    const instancesLoadsBefore = loads('instances')
    const serving = createServingApp(t.deps)
    const answers = await Promise.all([
      request(serving, '/api/v1/instances'),
      request(serving, '/api/v1/instances/i1'),
      request(serving, '/api/v1/auth/me'),
      request(serving, '/api/v1/instances', { method: 'PATCH' }),
    ])
    expect(answers.map((a) => a.status)).toEqual([401, 401, 401, 405])
    expect([...serving.loadedCapabilities].sort()).toEqual(['auth', 'instances'])
    expect(loads('instances')).toBe(instancesLoadsBefore + 1)
    const [instances] = answers
    expect(((await instances?.json()) as { code?: string } | undefined)?.code).toBe('unauthorized')
    // A capability's second request uses the app already loaded; another loads its own.
    const signedIn = { headers: { Authorization: `Bearer ${adminToken}` } }
    expect((await request(serving, '/api/v1/instances', signedIn)).status).toBe(200)
    expect((await request(serving, '/api/v1/metric-groups', signedIn)).status).toBe(200)
    expect([...serving.loadedCapabilities].sort()).toEqual(['auth', 'instances', 'metrics'])
  })

  describe('GET /livez before the pipeline (src/http/constant-answers.ts)', () => {
    const livezCount = async (serving: TestApp) =>
      Number(
        /pga_http_request_duration_seconds_count\{method="GET",route="\/livez",status="200"\} (\d+)/.exec(
          await serving.deps.metrics.registry.render(),
        )?.[1] ?? 0,
      )
    const headerNames = (response: Response) => [...response.headers.keys()].sort()

    it('gives the pipeline answer: body, headers, request id, histogram and access log', async () => {
      const serving = createServingApp(t.deps)
      const before = await livezCount(t)
      const answer = await request(serving, '/livez', { headers: { 'X-Request-Id': 'edge-proxy-5678' } })
      const throughPipeline = await t.app.request('/livez')
      expect(answer.status).toBe(200)
      expect(await answer.json()).toEqual(await throughPipeline.json())
      expect(headerNames(answer)).toEqual(headerNames(throughPipeline))
      for (const name of [
        'content-type',
        'content-security-policy',
        'x-frame-options',
        'strict-transport-security',
      ])
        expect(answer.headers.get(name)).toBe(throughPipeline.headers.get(name))
      expect(answer.headers.get('x-request-id')).toBe('edge-proxy-5678')
      const minted = await request(serving, '/livez', { headers: { 'X-Request-Id': 'bad id<script>' } })
      expect(minted.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
      // Two answers here, one through the pipeline (the same series).
      expect(await livezCount(t)).toBe(before + 3)
      const logged = t.logs.lines
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .find((line) => line.msg === 'request' && line.requestId === 'edge-proxy-5678')
      expect(logged).toMatchObject({ method: 'GET', route: '/livez', path: '/livez', status: 200 })
      expect(serving.loadedCapabilities).toEqual([])
    })

    it('says Connection: close while draining', async () => {
      const draining = await startTestApp()
      try {
        const serving = createServingApp(draining.deps)
        expect((await request(serving, '/livez')).headers.get('connection')).toBeNull()
        draining.deps.lifecycle.startDraining()
        const answer = await request(serving, '/livez')
        expect(answer.status).toBe(200)
        expect(answer.headers.get('connection')).toBe('close')
      } finally {
        await draining.close()
      }
    })

    it('leaves a cross-origin request to the pipeline when CORS is configured', async () => {
      const cors = await startTestApp({ PGA_CORS_ORIGINS: 'https://grafana.example' })
      try {
        const serving = createServingApp(cors.deps)
        const allowed = await request(serving, '/livez', { headers: { Origin: 'https://grafana.example' } })
        expect(allowed.status).toBe(200)
        expect(allowed.headers.get('access-control-allow-origin')).toBe('https://grafana.example')
        const head = await request(serving, '/livez', { method: 'HEAD' })
        expect(head.status).toBe(200)
        expect(await head.text()).toBe('')
      } finally {
        await cors.close()
      }
    })
  })
})
