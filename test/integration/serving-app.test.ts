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
})
