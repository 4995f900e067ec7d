// Three replicas of the binary behind Debian's HAProxy and nginx, configured from haproxy/ and
// nginx/ by the render step: TLS with HTTP/2, HTTP redirected to HTTPS, the client address the
// balancer saw (never a forged header), request ids in the balancer's access log, the per-client
// rate limit; then the failover drill under a constant load: a replica SIGKILLed, a rolling
// restart with SIGTERM (the replicas have PGA_SHUTDOWN_DELAY: HAProxy's checks take each out
// before it exits), a balancer reload and a Redis restart. Goal, asserted: no failed request
// for the kill, the rolling restart and the reload. The figures are printed; the long run is
// bench/failover.ts.

import { readFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { connect as http2Connect } from 'node:http2'
import { request as httpsRequest } from 'node:https'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { loadScenario } from '../../loadtest/runner.ts'
import { type Balancer, startBalancer } from '../harness/balancers.ts'
import { type Cluster, startCluster } from '../harness/cluster.ts'
import { formatDrill, runFailoverDrill } from '../harness/failover-drill.ts'
import { loginAddress } from '../support/audit-trail.ts'

let cluster: Cluster
const balancers: Partial<Record<'haproxy' | 'nginx', Balancer>> = {}

beforeAll(async () => {
  // As docs/LOAD_BALANCER_GUIDE.md advises behind HAProxy: at least fall × inter (1 s), with room
  // for a loaded machine.
  cluster = await startCluster({ replicas: 3, pgUrl: inject('pgUrl'), env: { PGA_SHUTDOWN_DELAY: '3s' } })
  const [haproxy, nginx] = await Promise.all([
    startBalancer('haproxy', cluster.addresses()),
    startBalancer('nginx', cluster.addresses()),
  ])
  balancers.haproxy = haproxy
  balancers.nginx = nginx
}, 240_000)

afterAll(async () => {
  await Promise.all(Object.values(balancers).map((b) => b?.stop()))
  await cluster?.stop()
})

type Reply = { status: number; headers: Record<string, string | string[] | undefined>; body: string }

/** One HTTPS/1.1 request to the balancer, from a chosen local address (127.0.0.2 is not a proxy). */
function viaBalancer(
  balancer: Balancer,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: string; localAddress?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port: balancer.httpsPort,
        path,
        method: options.method ?? 'GET',
        headers: options.headers,
        ca: readFileSync(balancer.caFile),
        localAddress: options.localAddress ?? '127.0.0.2',
        agent: false,
        timeout: 20_000,
      },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (chunk) => {
          body += chunk
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
      },
    )
    req.on('timeout', () => req.destroy(new Error('timed out')))
    req.on('error', reject)
    req.end(options.body)
  })
}

async function signInThrough(balancer: Balancer, headers: Record<string, string> = {}) {
  const reply = await viaBalancer(balancer, '/api/v1/auth/login', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify({ email: cluster.adminEmail, password: cluster.adminPassword }),
  })
  expect(reply.status, reply.body).toBe(200)
  return JSON.parse(reply.body) as { session_id: string; access_token: string }
}

describe.each(['haproxy', 'nginx'] as const)('%s in front of three replicas', (kind) => {
  const balancer = () => balancers[kind] as Balancer

  it('speaks HTTP/2 over TLS to clients', async () => {
    const session = http2Connect(`https://127.0.0.1:${balancer().httpsPort}`, {
      ca: readFileSync(balancer().caFile),
    })
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const stream = session.request({ ':path': '/api/v1/version' })
        stream.on('response', (headers) => resolve(Number(headers[':status'])))
        stream.on('error', reject)
        stream.end()
      })
      expect(status).toBe(200)
      expect(session.alpnProtocol).toBe('h2')
    } finally {
      session.close()
    }
  })

  it('redirects plain HTTP to HTTPS', async () => {
    const reply = await new Promise<Reply>((resolve, reject) => {
      httpRequest({ host: '127.0.0.1', port: balancer().httpPort, path: '/api/v1/version' }, (res) => {
        res.resume()
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: '' })
      })
        .on('error', reject)
        .end()
    })
    expect(reply.status).toBe(308)
    expect(reply.headers.location).toMatch(
      new RegExp(`^https://127\\.0\\.0\\.1:${balancer().httpsPort}/api/v1/version$`),
    )
  })

  it('gives the replicas the client address it saw, never the one a client wrote', async () => {
    const { session_id } = await signInThrough(balancer(), {
      'X-Forwarded-For': '6.6.6.6',
      Forwarded: 'for=6.6.6.7',
      'X-Real-IP': '6.6.6.8',
    })
    expect(await loginAddress(cluster.databaseUrl, session_id)).toBe('127.0.0.2')
  })

  it('passes the request id through and logs it, keeping a well-formed incoming one', async () => {
    const own = `lb-${kind}-request-0001`
    const kept = await viaBalancer(balancer(), '/api/v1/version', { headers: { 'X-Request-Id': own } })
    expect(kept.headers['x-request-id']).toBe(own)
    await balancer().waitForLine(new RegExp(`request_id=\\"?${own}`))
    const minted = await viaBalancer(balancer(), '/api/v1/version', {
      headers: { 'X-Request-Id': 'bad id!' },
    })
    const id = minted.headers['x-request-id'] as string
    expect(id).toMatch(/^[A-Za-z0-9._:-]{8,128}$/)
    expect(id).not.toBe('bad id!')
    await balancer().waitForLine(new RegExp(`request_id=\\"?${id.replace(/\./g, '\\.')}`))
    // The replica that answered logged the same id (its log arrives through a pipe: wait for it).
    const pattern = new RegExp(`"requestId":"${id.replace(/\./g, '\\.')}"`)
    await Promise.any(cluster.replicas.map((r) => r.process.waitForLine(pattern, 10_000)))
  })

  it('limits requests per client with a problem+json 429', async () => {
    const limited = await startBalancer(kind, cluster.addresses(), {
      rateLimitPerSecond: 1,
      rateLimitBurst: 2,
    })
    try {
      const replies: Reply[] = []
      for (let i = 0; i < 30; i++) replies.push(await viaBalancer(limited, '/api/v1/version'))
      const refused = replies.filter((r) => r.status === 429)
      expect(refused.length).toBeGreaterThan(0)
      expect(replies.filter((r) => r.status === 200).length).toBeGreaterThan(0)
      expect(refused[0]?.headers['content-type']).toBe('application/problem+json')
      expect(JSON.parse(refused[0]?.body ?? '{}')).toMatchObject({ status: 429, code: 'rate_limited' })
      expect(Number(refused[0]?.headers['retry-after'])).toBeGreaterThan(0)
      // Another client is not limited by the first one's traffic.
      expect((await viaBalancer(limited, '/api/v1/version', { localAddress: '127.0.0.3' })).status).toBe(200)
    } finally {
      await limited.stop()
    }
  })

  it('loses no request when a replica is killed, during a rolling restart or a reload', async () => {
    const report = await runFailoverDrill({
      cluster,
      balancer: balancer(),
      scenario: loadScenario('failover'),
      rate: 40,
      settleMs: 2000,
      // Longer than HAProxy needs to find every replica unready (2 checks of 500 ms).
      redisDownMs: 3000,
      log: (message) => console.log(message),
    })
    console.log(formatDrill(report))
    const failed = (name: string) => report.phases.find((p) => p.name === name)?.summary.errors
    const detail = JSON.stringify(report.failures.slice(0, 10))
    expect(report.phases.every((p) => p.summary.requests > 0)).toBe(true)
    expect(failed('baseline'), detail).toBe(0)
    expect(failed('replica killed'), detail).toBe(0)
    expect(failed('rolling restart'), detail).toBe(0)
    expect(failed('balancer reload'), detail).toBe(0)
    // The balancer noticed the dead replica (its log names it), and the requests sent while it was
    // down all succeeded: the other replicas answered them.
    const killed = report.phases.find((p) => p.name === 'replica killed')
    const victim = cluster.replicas[1]?.address as string
    expect(killed?.detectedBy).toContain(kind === 'haproxy' ? 'Server replicas/replica-2 is DOWN' : victim)
    expect(killed?.outage?.requests).toBeGreaterThan(0)
    expect(killed?.outage?.errors, detail).toBe(0)
    // With PGA_SHUTDOWN_DELAY each replica in the rolling restart kept serving until HAProxy's
    // checks had seen its /readyz 503 and taken it out, before its port closed.
    if (kind === 'haproxy') {
      const rolling = report.phases.find((p) => p.name === 'rolling restart')
      for (const replica of cluster.replicas) {
        const takenOut = await balancer().waitForLine(
          new RegExp(
            `Server replicas/replica-${replica.index + 1} is DOWN, reason: Layer7 wrong status, code: 503`,
          ),
          { after: rolling?.fromMs, timeoutMs: 1 },
        )
        expect(takenOut.at).toBeLessThan(rolling?.toMs as number)
      }
    }
    // With Redis down, reads with an API key need only PostgreSQL: none may fail (HAProxy falls
    // back to the live replicas when none is ready). Writes need Redis: they get 503 meanwhile.
    const redis = report.phases.find((p) => p.name === 'Redis restart')?.summary
    const reads = loadScenario('failover')
      .requests.filter((r) => r.method === 'GET')
      .map((r) => r.name)
    for (const name of reads)
      expect(redis?.byRequest[name]?.errors ?? 0, `${name} during the Redis restart`).toBe(0)
    expect(Object.keys(redis?.statusCounts ?? {}).filter((s) => !['200', '201', '503'].includes(s))).toEqual(
      [],
    )
  }, 240_000)
})
