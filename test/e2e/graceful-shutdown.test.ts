// SIGTERM on the compiled binary while a request is in flight (its body still arriving):
// /readyz answers 503 at once, requests that still arrive are served (with Connection: close)
// rather than refused, the in-flight request completes with 200, and the process exits 0. With
// PGA_SHUTDOWN_DELAY an idle replica keeps serving new requests until the delay ends or a second
// signal comes, so a balancer's checks see /readyz 503 before the port closes.
import { connect, type Socket } from 'node:net'
import { beforeAll, describe, expect, inject, it } from 'vitest'
import { createTestDatabase } from '../harness/postgres.ts'
import { testMasterKey } from '../support/master-key.ts'
import { binaryInEmptyDir, startService } from '../support/service-process.ts'
import { until } from '../support/until.ts'

let binary: string
beforeAll(async () => {
  binary = await binaryInEmptyDir('graceful')
}, 180_000)

/** A raw HTTP/1.1 connection, so the test controls exactly when each byte is sent. */
async function openConnection(port: number) {
  const socket: Socket = await new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1' }, () => resolve(s))
    s.once('error', reject)
  })
  let received = ''
  const waiters: (() => void)[] = []
  socket.on('data', (chunk) => {
    received += chunk.toString()
    for (const wake of waiters.splice(0)) wake()
  })
  /** Resolves with the next complete response (headers and Content-Length body). */
  const nextResponse = (timeoutMs = 10_000) =>
    new Promise<{ status: number; headers: string; body: string }>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no response within ${timeoutMs} ms; got ${JSON.stringify(received)}`)),
        timeoutMs,
      )
      const tryParse = () => {
        const end = received.indexOf('\r\n\r\n')
        if (end >= 0) {
          const headers = received.slice(0, end)
          const length = Number(/content-length: (\d+)/i.exec(headers)?.[1] ?? 0)
          if (received.length >= end + 4 + length) {
            const body = received.slice(end + 4, end + 4 + length)
            received = received.slice(end + 4 + length)
            clearTimeout(timer)
            resolve({ status: Number(headers.split(' ')[1]), headers, body })
            return
          }
        }
        waiters.push(tryParse)
      }
      tryParse()
    })
  return { socket, send: (text: string) => socket.write(text), nextResponse }
}

/** Whether the service counts `count` requests in flight (the /metrics request asking included). */
async function inFlight(port: number, count: number) {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
  return new RegExp(`^pga_http_requests_in_flight ${count}$`, 'm').test(text)
}

/** The binary on its own database, the suite's Redis, and `env`. */
async function startServiceWith(env: Record<string, string>) {
  const databaseUrl = await createTestDatabase(inject('pgUrl'))
  return startService({
    command: binary,
    env: { DATABASE_URL: databaseUrl, PGA_MASTER_KEY: testMasterKey, REDIS_URL: inject('redisUrl'), ...env },
  })
}

const body = JSON.stringify({ env: { PGA_PORT: '9000', PGA_LOG_LEVEL: 'debug' } })
const postHead = `POST /api/v1/config/check HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`

describe('graceful shutdown', () => {
  it('finishes the in-flight request, turns /readyz 503 at once, serves latecomers and exits 0', async () => {
    const service = await startServiceWith({ PGA_SHUTDOWN_GRACE: '10s' })
    const slow = await openConnection(service.port)
    const probe = await openConnection(service.port)
    probe.send('GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n')
    expect((await probe.nextResponse()).status).toBe(200)

    // Half the body now: the request is in flight until the rest arrives.
    slow.send(postHead + body.slice(0, 10))
    // In flight once the service counts it: 2 with the /metrics request asking.
    await until('the half-sent request in flight', () => inFlight(service.port, 2))
    service.child.kill('SIGTERM')
    await service.waitForLine(/"msg":"draining".*"inFlight":1/)

    probe.send('GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n')
    const draining = await probe.nextResponse()
    expect(draining.status).toBe(503)
    expect(JSON.parse(draining.body)).toEqual({ ready: false, phase: 'draining' })
    expect(draining.headers).toMatch(/connection: close/i)

    // A latecomer (the load balancer has not noticed yet) is served, and told to go away.
    const late = await fetch(`${service.url}/readyz`)
    expect(late.status).toBe(503)
    expect(late.headers.get('Connection')).toBe('close')

    slow.send(body.slice(10))
    const finished = await slow.nextResponse()
    expect(finished.status).toBe(200)
    expect(JSON.parse(finished.body)).toMatchObject({ valid: true })

    expect(await service.exited).toBe(0)
    expect(service.lines.join('\n')).toMatch(/"msg":"stopped","drained":true/)
    slow.socket.destroy()
    probe.socket.destroy()
  }, 60_000)

  it('with PGA_SHUTDOWN_DELAY, an idle replica keeps serving after SIGTERM until a second signal', async () => {
    const service = await startServiceWith({ PGA_SHUTDOWN_DELAY: '10m' })
    service.child.kill('SIGTERM')
    await service.waitForLine(/"msg":"draining".*"inFlight":0,"delayMs":600000/)
    // Without the delay an idle replica exits within milliseconds of the signal; with it, new
    // connections are served for as long as the delay lasts, each told to go away.
    const watchUntil = Date.now() + 2000
    let served = 0
    while (Date.now() < watchUntil) {
      const version = await fetch(`${service.url}/api/v1/version`)
      expect(version.status).toBe(200)
      expect(version.headers.get('Connection')).toBe('close')
      const readiness = await fetch(`${service.url}/readyz`)
      expect(readiness.status).toBe(503)
      expect(await readiness.json()).toEqual({ ready: false, phase: 'draining' })
      served++
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
    expect(served).toBeGreaterThan(1)
    expect(service.child.exitCode).toBeNull()

    service.child.kill('SIGINT')
    expect(await service.exited).toBe(0)
    const log = service.lines.join('\n')
    expect(log).toMatch(/"msg":"shutdown delay cut short","signal":"SIGINT"/)
    expect(log).toMatch(/"msg":"stopped","drained":true/)
  }, 60_000)

  it('gives up on a request that outlives PGA_SHUTDOWN_GRACE and still exits 0', async () => {
    const service = await startServiceWith({ PGA_SHUTDOWN_GRACE: '500ms' })
    const stuck = await openConnection(service.port)
    stuck.send(postHead + body.slice(0, 5))
    await until('the half-sent request in flight', () => inFlight(service.port, 2))
    service.child.kill('SIGTERM')
    expect(await service.exited).toBe(0)
    const log = service.lines.join('\n')
    expect(log).toMatch(/shutdown grace elapsed with requests still in flight.*"inFlight":1/)
    expect(log).toMatch(/"msg":"stopped","drained":false/)
    stuck.socket.destroy()
  }, 60_000)
})
