// Peers that are not (well-behaved) PostgreSQL servers, over real sockets: the service's own HTTP
// port, a server that sends garbage, one that sends the start of a PostgreSQL reply and stalls,
// one that stalls the TLS handshake, one that hangs up at once. The connection test of the API
// and the collector answer with a clear code (a protocol error when the peer said something
// wrong, a timeout only when it stalled), and the client destroys the socket (the fake server
// sees the hang-up); nothing waits until the process stops. Durations are not asserted (the CI
// machine is loaded): the code tells the deadline from the protocol check, and a request still
// unanswered after `generousMs` fails.
import { createServer, type Server, type Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testConnection } from '../../src/instances/connection-test.ts'
import { HostPolicy } from '../../src/instances/host-policy.ts'
import { nodeRuntime } from '../../src/runtime/node.ts'
import type { HttpServer } from '../../src/runtime/runtime.ts'
import { startTestApp, type TestApp } from '../support/app.ts'

const token = 'deadline-test-admin-token-0123456789'
/** PGA_COLLECTOR_CONNECT_TIMEOUT of the app under test. */
const deadlineMs = 2000
/** Far above any answer expected here, far below "until the process stops": the bound on every
 * request, and on the wait for the fake server to see the hang-up. */
const generousMs = 15_000

type Peer = { port: number; connections: { openedAt: number; closedAt?: number }[]; close(): Promise<void> }

/** A TCP server on 127.0.0.1 that runs `onConnection` per accepted socket and records when each
 * connection opened and closed. */
async function fakeServer(onConnection: (socket: Socket) => void): Promise<Peer> {
  const connections: Peer['connections'] = []
  const open = new Set<Socket>()
  const server: Server = createServer((socket) => {
    const connection: Peer['connections'][number] = { openedAt: performance.now() }
    connections.push(connection)
    open.add(socket)
    socket.on('error', () => {})
    socket.on('close', () => {
      connection.closedAt = performance.now()
      open.delete(socket)
    })
    onConnection(socket)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    connections,
    close: async () => {
      for (const socket of open) socket.destroy()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

/** Sends bytes no PostgreSQL server sends, and keeps the connection open. */
const garbage = () => fakeServer((socket) => socket.once('data', () => socket.write('\x00\x00\x00\x05hello')))
/** Refuses TLS ('N'), then sends the first 3 of the 9 bytes of AuthenticationOk and stalls. */
const partialReply = () =>
  fakeServer((socket) => {
    socket.once('data', () => {
      socket.write('N')
      socket.once('data', () => socket.write(Buffer.from([0x52, 0, 0])))
    })
  })
/** Accepts TLS ('S'), then never answers the ClientHello. */
const tlsStall = () => fakeServer((socket) => socket.once('data', () => socket.write('S')))
/** Hangs up as soon as the client speaks. */
const hangUp = () => fakeServer((socket) => socket.once('data', () => socket.end()))

/** No rules beyond the built-in ones. */
const openPolicy = new HostPolicy({ allow: [], deny: [] })
let t: TestApp
let ownHttp: HttpServer
const peers: Peer[] = []

beforeAll(async () => {
  t = await startTestApp({
    PGA_ADMIN_TOKEN: token,
    PGA_COLLECTOR_ENABLED: 'false',
    PGA_COLLECTOR_CONNECT_TIMEOUT: `${deadlineMs}ms`,
  })
  await t.deps.collector.maintainPartitions()
  // The service itself, listening on a real port: the observed case of the defect.
  ownHttp = await nodeRuntime.serve(t.app.fetch, { host: '127.0.0.1', port: 0 })
})
afterAll(async () => {
  await ownHttp?.close(1000)
  for (const peer of peers) await peer.close()
  await t?.close()
})

async function peer(start: () => Promise<Peer>): Promise<Peer> {
  const started = await start()
  peers.push(started)
  return started
}

/** The request, or a failure naming the bound when it takes longer (the defect: forever). */
async function timed<T>(what: string, work: Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now()
  let timer: ReturnType<typeof setTimeout> | undefined
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${generousMs} ms`)), generousMs)
  })
  try {
    return { value: await Promise.race([work, bound]), ms: performance.now() - started }
  } finally {
    clearTimeout(timer)
  }
}

const createInstance = async (port: number, sslmode = 'disable') =>
  t.app.request('/api/v1/instances', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: JSON.stringify({
      name: `peer-${Math.random().toString(36).slice(2, 8)}`,
      host: '127.0.0.1',
      port,
      username: 'pga_monitor',
      password: 'irrelevant',
      sslmode,
    }),
  })

describe('POST /api/v1/instances against peers that are not PostgreSQL', () => {
  it.each(['disable', 'prefer'])(
    'the service’s own HTTP port (sslmode %s): 422 connection_protocol_error at once',
    async (sslmode) => {
      // Refused at the first byte: a protocol error, not the deadline's connection_timeout.
      const { value: res } = await timed('own port', createInstance(ownHttp.port, sslmode))
      expect(res.status).toBe(422)
      const problem = await res.json()
      expect(problem).toMatchObject({ code: 'connection_protocol_error' })
      expect(problem.detail).toBe(
        `127.0.0.1:${ownHttp.port}: the server does not speak the PostgreSQL protocol`,
      )
    },
  )

  it('a server that sends garbage: 422 connection_protocol_error at once, socket closed', async () => {
    const server = await peer(garbage)
    const { value: res } = await timed('garbage', createInstance(server.port))
    expect(res.status).toBe(422)
    expect(await res.json()).toMatchObject({ code: 'connection_protocol_error' })
    await expect.poll(() => server.connections[0]?.closedAt, { timeout: generousMs }).toBeTypeOf('number')
  })

  it('a partial PostgreSQL reply that stalls: 422 connection_timeout at the deadline, socket destroyed', async () => {
    const server = await peer(partialReply)
    const { value: res, ms } = await timed('partial reply', createInstance(server.port))
    expect(res.status).toBe(422)
    const problem = await res.json()
    expect(problem).toMatchObject({ code: 'connection_timeout' })
    expect(problem.detail).toBe(
      `no complete PostgreSQL answer from 127.0.0.1:${server.port} within ${deadlineMs} ms`,
    )
    // Not before the deadline (a lower bound: load only makes it later).
    expect(ms).toBeGreaterThanOrEqual(deadlineMs - 50)
    // The client hung up by itself (the fake server never does): one connection, destroyed.
    await expect.poll(() => server.connections[0]?.closedAt, { timeout: generousMs }).toBeTypeOf('number')
    expect(server.connections).toHaveLength(1)
  })
})

describe('testConnection, one deadline over TCP, TLS, start-up and probe', () => {
  const target = (port: number, sslmode: 'disable' | 'require' | 'prefer') => ({
    host: '127.0.0.1',
    port,
    database: 'x',
    username: 'x',
    sslmode,
  })

  it('a stalled TLS handshake ends at the deadline with its socket destroyed', async () => {
    const server = await peer(tlsStall)
    const { value: result } = await timed(
      'tls',
      testConnection(target(server.port, 'require'), { timeoutMs: 1000, hostPolicy: openPolicy }),
    )
    expect(result).toEqual({
      ok: false,
      failure: {
        reason: 'timeout',
        detail: `no complete PostgreSQL answer from 127.0.0.1:${server.port} within 1000 ms`,
      },
    })
    await expect.poll(() => server.connections[0]?.closedAt, { timeout: generousMs }).toBeTypeOf('number')
    expect(server.connections).toHaveLength(1)
  })

  it('a server that hangs up without a word is a protocol error, not endless retries', async () => {
    const server = await peer(hangUp)
    // The hang-up ends it, not the 3 s deadline: a protocol error, not a timeout.
    const { value: result } = await timed(
      'hang-up',
      testConnection(target(server.port, 'prefer'), { timeoutMs: 3000, hostPolicy: openPolicy }),
    )
    expect(result).toEqual({
      ok: false,
      failure: {
        reason: 'protocol_error',
        detail: `127.0.0.1:${server.port}: the server closed the connection without a PostgreSQL answer`,
      },
    })
    expect(server.connections).toHaveLength(1)
  })
})

describe('the collector against the same peers', () => {
  type Scheduler = { tick(now?: number): Promise<void>; owned: Map<string, { worker: { running: boolean } }> }
  const scheduler = () => (t.deps.collector as unknown as { scheduler: Scheduler }).scheduler
  const failures = (id: string) =>
    t.deps.db.sql<{ error_code: string; error: string }[]>`
      select error_code, error from sn_stat_snapshot where instance_id = ${id} and status = 'failed'`

  async function saved(port: number): Promise<string> {
    const res = await t.app.request('/api/v1/instances?test=false', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
      body: JSON.stringify({
        name: `collected-${Math.random().toString(36).slice(2, 8)}`,
        host: '127.0.0.1',
        port,
        username: 'pga_monitor',
        sslmode: 'prefer',
      }),
    })
    expect(res.status).toBe(201)
    return (await res.json()).id
  }

  it('records connection_protocol_error for the HTTP port and connection_timeout for a stalled reply', async () => {
    const stalled = await peer(partialReply)
    const httpId = await saved(ownHttp.port)
    const stalledId = await saved(stalled.port)
    await scheduler().tick()
    await expect
      .poll(async () => (await failures(httpId)).map((f) => f.error_code)[0], { timeout: generousMs })
      .toBe('connection_protocol_error')
    await expect
      .poll(async () => (await failures(stalledId)).map((f) => f.error_code)[0], { timeout: generousMs })
      .toBe('connection_timeout')
    // The connect deadline (its message, not the query deadline's) ended the attempt and
    // destroyed its socket.
    expect((await failures(stalledId))[0]?.error).toBe(
      `no complete PostgreSQL answer from 127.0.0.1:${stalled.port} within ${deadlineMs} ms`,
    )
    await expect.poll(() => stalled.connections[0]?.closedAt, { timeout: generousMs }).toBeTypeOf('number')
  })
})
