// What `serve` hands the HTTP server: the probes app answers from the start and the whole API
// loads on the first request the probes app does not own (src/serving-app.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createServingApp } from '../../src/serving-app.ts'
import { startTestApp, type TestApp } from '../support/app.ts'

let t: TestApp
beforeAll(async () => {
  t = await startTestApp()
})
afterAll(() => t.close())

const request = (serving: ReturnType<typeof createServingApp>, path: string, init?: RequestInit) =>
  serving.fetch(new Request(`http://127.0.0.1${path}`, init), {})

describe('serving app', () => {
  it('answers probes, version, config check and docs without loading the API', async () => {
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
    expect(serving.apiLoaded).toBe(false)
  })

  it('loads the API on the first requests it does not own, which all get their answer', async () => {
    const serving = createServingApp(t.deps)
    const answers = await Promise.all([
      request(serving, '/api/v1/instances'),
      request(serving, '/api/v1/auth/me'),
      request(serving, '/api/v1/backups/trigger'),
      request(serving, '/no/such/path'),
    ])
    expect(answers.map((a) => a.status)).toEqual([401, 401, 405, 404])
    expect(serving.apiLoaded).toBe(true)
    const [instances] = answers
    expect(((await instances?.json()) as { code?: string } | undefined)?.code).toBe('unauthorized')
    // Once loaded, probes go through the whole API too (same routes, same answers).
    expect((await request(serving, '/livez')).status).toBe(200)
    const document = await request(serving, '/openapi.json')
    expect(document.status).toBe(200)
    expect(Object.keys(((await document.json()) as { paths: object }).paths)).toContain('/api/v1/instances')
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
      expect(serving.apiLoaded).toBe(false)
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
