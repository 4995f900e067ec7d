// The lifecycle gate: an API request waits for the replica to finish starting, and answers 503
// `starting` with Retry-After when start-up takes longer than the wait; while draining every
// response says Connection: close.
import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import type { ServiceError } from '../../src/http/errors.ts'
import { lifecycleGate } from '../../src/http/middleware/lifecycle-gate.ts'
import { Lifecycle } from '../../src/system/lifecycle.ts'

function appFor(lifecycle: Lifecycle, waitMs: number) {
  const app = new Hono()
  app.use('*', lifecycleGate(lifecycle, waitMs))
  app.get('/api/v1/thing', (c) => c.text('ran'))
  app.get('/livez', (c) => c.text('alive'))
  app.onError((error, c) =>
    c.json(
      { code: (error as ServiceError).code, retryAfter: (error as ServiceError).extra.retryAfterSeconds },
      503,
    ),
  )
  return app
}

describe('lifecycleGate', () => {
  it('answers 503 starting when the replica is not ready within the wait', async () => {
    const res = await appFor(new Lifecycle(0), 50).request('/api/v1/thing')
    expect(res.status).toBe(503)
    expect(await res.json()).toEqual({ code: 'starting', retryAfter: 1 })
  })

  it('runs the request once the replica is ready, and never holds probes', async () => {
    const lifecycle = new Lifecycle(0)
    const app = appFor(lifecycle, 30_000)
    expect(await (await app.request('/livez')).text()).toBe('alive')
    const waiting = app.request('/api/v1/thing')
    setTimeout(() => lifecycle.markReady(), 50)
    expect(await (await waiting).text()).toBe('ran')
  })

  it('serves requests while draining, telling the client to reconnect elsewhere', async () => {
    const lifecycle = new Lifecycle(0)
    lifecycle.markReady()
    const app = appFor(lifecycle, 50)
    expect((await app.request('/api/v1/thing')).headers.get('Connection')).toBeNull()
    lifecycle.startDraining()
    const res = await app.request('/api/v1/thing')
    expect([await res.text(), res.headers.get('Connection')]).toEqual(['ran', 'close'])
  })
})
