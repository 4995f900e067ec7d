// The instance host policy against the real app, a real PostgreSQL and real sockets: built-in
// denials, a name whose resolved address is denied (`localhost` with 127.0.0.0/8 denied), an
// allow list of an IPv6 block and a name glob, the collector and a backup refused once the policy
// changed under a saved instance (a second app on the same database), the libpq programs pointed
// at the checked address, and failure details that quote nothing a non-PostgreSQL peer sent.
import { createServer, type Server, type Socket } from 'node:net'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { libpqConnection, runTool } from '../../src/backup/libpq.ts'
import { findPgTool } from '../../src/backup/pg-tools.ts'
import { testConnection } from '../../src/instances/connection-test.ts'
import { HostNotAllowedError, HostPolicy } from '../../src/instances/host-policy.ts'
import { startTestApp, type TestApp } from '../support/app.ts'

const token = 'instance-hosts-test-admin-token-0123456789'
const password = 'Mon1tor-pass-phrase'
const role = `pga_hosts_${Math.random().toString(36).slice(2, 8)}`
/** Far above any answer expected here. */
const generousMs = 30_000

/** Defaults only. */
let open: TestApp
/** The same database as `open`, with PGA_INSTANCE_HOSTS_DENY=127.0.0.0/8,::1. */
let denying: TestApp
/** PGA_INSTANCE_HOSTS_ALLOW=::1/128,local* */
let allowing: TestApp
let pgPort: number
const servers: Server[] = []

beforeAll(async () => {
  const admin = postgres(inject('pgUrl'), { max: 1, onnotice: () => {} })
  pgPort = Number(new URL(inject('pgUrl')).port)
  await admin.unsafe(`create role ${role} login password '${password}' in role pga_password_auth, pg_monitor`)
  await admin.end()
  const common = {
    PGA_ADMIN_TOKEN: token,
    PGA_COLLECTOR_ENABLED: 'false',
    PGA_COLLECTOR_CONNECT_TIMEOUT: '3s',
  }
  open = await startTestApp(common)
  const store = open.deps.config.store
  if (store.kind !== 'postgres') throw new Error('the test app runs on the test cluster')
  denying = await startTestApp({
    ...common,
    DATABASE_URL: store.url,
    PGA_INSTANCE_HOSTS_DENY: '127.0.0.0/8,::1',
  })
  allowing = await startTestApp({ ...common, PGA_INSTANCE_HOSTS_ALLOW: '::1/128,local*' })
}, 120_000)
afterAll(async () => {
  for (const server of servers) server.close()
  await allowing?.close()
  await denying?.close()
  await open?.close()
})

const call = async (app: TestApp, method: string, path: string, body?: unknown) => {
  const res = await app.app.request(path, {
    method,
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : {} }
}

const instance = (overrides: Record<string, unknown> = {}) => ({
  name: `h-${Math.random().toString(36).slice(2, 8)}`,
  host: '127.0.0.1',
  port: pgPort,
  username: role,
  password,
  sslmode: 'disable',
  ...overrides,
})

/** A TCP server on `host` that runs `onConnection` for each accepted socket. */
async function listen(host: string, onConnection: (socket: Socket) => void): Promise<number> {
  const server = createServer((socket) => {
    socket.on('error', () => {})
    onConnection(socket)
  })
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, host, resolve))
  return (server.address() as { port: number }).port
}

describe('built-in denials', () => {
  it.each([
    [
      '169.254.169.254',
      '169.254.169.254 is 169.254.0.0/16, refused by a built-in rule (IPv4 link-local, cloud metadata)',
    ],
    [
      '[fd00:ec2::254]',
      '[fd00:ec2::254] is fd00:ec2::254/128, refused by a built-in rule (AWS instance metadata over IPv6)',
    ],
    [
      'metadata.google.internal',
      'metadata.google.internal matches metadata.google.internal, refused by a built-in rule (Google Cloud instance metadata)',
    ],
  ])('%s: 422 instance_host_not_allowed, tested or not, and nothing saved', async (host, detail) => {
    const before = (await call(open, 'GET', '/api/v1/instances')).body.items.length
    for (const path of ['/api/v1/instances', '/api/v1/instances?test=false']) {
      const res = await call(open, 'POST', path, instance({ host, port: 80 }))
      expect(res.status, path).toBe(422)
      expect(res.body).toMatchObject({ code: 'instance_host_not_allowed', detail })
    }
    expect((await call(open, 'GET', '/api/v1/instances')).body.items.length).toBe(before)
  })

  it('a saved instance cannot be moved onto a denied host', async () => {
    const created = await call(open, 'POST', '/api/v1/instances', instance())
    expect(created.status).toBe(201)
    const moved = await call(open, 'PATCH', `/api/v1/instances/${created.body.id}`, {
      host: '169.254.169.254',
    })
    expect(moved.status).toBe(422)
    expect(moved.body.code).toBe('instance_host_not_allowed')
    expect((await call(open, 'GET', `/api/v1/instances/${created.body.id}`)).body.host).toBe('127.0.0.1')
  })
})

describe('PGA_INSTANCE_HOSTS_DENY, checked after DNS resolution', () => {
  it('refuses a name that resolves to a denied address, though the same server is reachable', async () => {
    // Reachable without the policy: the same login on the same server.
    expect((await call(open, 'POST', '/api/v1/instances', instance({ host: 'localhost' }))).status).toBe(201)
    const res = await call(denying, 'POST', '/api/v1/instances', instance({ host: 'localhost' }))
    expect(res.status).toBe(422)
    expect(res.body.code).toBe('instance_host_not_allowed')
    expect(res.body.detail).toMatch(
      /^localhost resolves to an address in (127\.0\.0\.0\/8|::1\/128), refused by PGA_INSTANCE_HOSTS_DENY$/,
    )
    const literal = await call(denying, 'POST', '/api/v1/instances?test=false', instance())
    expect([literal.status, literal.body.code]).toEqual([422, 'instance_host_not_allowed'])
    expect(literal.body.detail).toBe('127.0.0.1 is 127.0.0.0/8, refused by PGA_INSTANCE_HOSTS_DENY')
  })

  it('the collector records instance_host_not_allowed for an instance saved before the policy changed', async () => {
    const created = await call(open, 'POST', '/api/v1/instances', instance({ host: 'localhost' }))
    expect(created.status).toBe(201)
    await denying.deps.collector.maintainPartitions()
    type Scheduler = { tick(now?: number): Promise<void> }
    const scheduler = (denying.deps.collector as unknown as { scheduler: Scheduler }).scheduler
    await scheduler.tick()
    const failures = () =>
      denying.deps.db.sql<{ error_code: string; error: string }[]>`
        select error_code, error from sn_stat_snapshot where instance_id = ${created.body.id} and status = 'failed'`
    await expect
      .poll(async () => (await failures())[0]?.error_code, { timeout: generousMs })
      .toBe('instance_host_not_allowed')
    const [failure] = await failures()
    expect(failure?.error).toMatch(
      /^localhost resolves to an address in .*, refused by PGA_INSTANCE_HOSTS_DENY$/,
    )
    // Nothing was collected: no group succeeded on the refused instance.
    const [ok] = await denying.deps.db.sql<{ n: number }[]>`
      select count(*)::int as n from sn_stat_snapshot where instance_id = ${created.body.id} and status <> 'failed'`
    expect(ok?.n).toBe(0)
  })

  it('a backup of an instance on a denied host fails naming the rule', async () => {
    const created = await call(open, 'POST', '/api/v1/instances', instance())
    expect(created.status).toBe(201)
    const started = await call(denying, 'POST', '/api/v1/backups/trigger', {
      instanceId: created.body.id,
      type: 'full',
    })
    expect(started.status, JSON.stringify(started.body)).toBe(202)
    let done: Record<string, unknown> = {}
    await expect
      .poll(
        async () => {
          done = (await call(denying, 'GET', `/api/v1/backups/${started.body.id}`)).body
          return done.status
        },
        { timeout: generousMs },
      )
      .toBe('failed')
    expect(done.error).toContain('127.0.0.1 is 127.0.0.0/8, refused by PGA_INSTANCE_HOSTS_DENY')
  })

  it('the libpq programs are refused before they run, and otherwise get the checked address as hostaddr', async () => {
    const target = {
      host: 'localhost',
      port: pgPort,
      database: 'postgres',
      username: role,
      password,
      sslmode: 'disable' as const,
    }
    const options = { applicationName: 'pga-test', connectTimeoutMs: 10_000 }
    await expect(
      libpqConnection(target, {
        ...options,
        hostPolicy: new HostPolicy({ allow: [], deny: ['127.0.0.0/8', '::1'] }),
      }),
    ).rejects.toBeInstanceOf(HostNotAllowedError)
    await expect(
      libpqConnection(
        { ...target, host: '169.254.169.254' },
        { ...options, hostPolicy: new HostPolicy({ allow: [], deny: [] }) },
      ),
    ).rejects.toThrow('refused by a built-in rule')
    const connection = await libpqConnection(target, {
      ...options,
      hostPolicy: new HostPolicy({ allow: ['127.0.0.0/8'], deny: [] }),
    })
    try {
      expect(connection.conninfo).toContain("host='localhost' hostaddr='127.0.0.1' port=")
      const psql = await findPgTool('psql', 13)
      const tool = runTool(
        psql,
        ['-X', '-At', '-d', connection.conninfo, '-c', 'select current_user'],
        connection.env,
      )
      let out = ''
      tool.child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString()
      })
      await tool.finished
      expect(out.trim()).toBe(role)
    } finally {
      connection.dispose()
    }
  })
})

describe('PGA_INSTANCE_HOSTS_ALLOW', () => {
  it('admits a name matching a glob and an address in an IPv6 block, and nothing else', async () => {
    // local*: the name is allowed, and it reaches the real server.
    const byName = await call(allowing, 'POST', '/api/v1/instances', instance({ host: 'localhost' }))
    expect(byName.status, JSON.stringify(byName.body)).toBe(201)
    // ::1/128: connected to (a peer that is not PostgreSQL answers), not refused.
    const port = await listen('::1', (socket) =>
      socket.once('data', () => socket.end('HTTP/1.1 400 Bad Request\r\n\r\n')),
    )
    const v6 = await call(allowing, 'POST', '/api/v1/instances', instance({ host: '[::1]', port }))
    expect([v6.status, v6.body.code]).toEqual([422, 'connection_protocol_error'])
    for (const host of ['127.0.0.1', '[::2]']) {
      const res = await call(allowing, 'POST', '/api/v1/instances', instance({ host }))
      expect([res.status, res.body.code], host).toEqual([422, 'instance_host_not_allowed'])
      expect(res.body.detail).toBe(
        `${host} is not allowed by PGA_INSTANCE_HOSTS_ALLOW (neither its name nor every address it resolves to matches a rule)`,
      )
    }
  })

  it('a block admits a name by the addresses it resolves to', async () => {
    const target = {
      host: 'localhost',
      port: pgPort,
      database: 'postgres',
      username: role,
      password,
      sslmode: 'disable' as const,
    }
    const admitted = await testConnection(target, {
      hostPolicy: new HostPolicy({ allow: ['127.0.0.0/8'], deny: [] }),
    })
    expect(admitted.ok).toBe(true)
    const refused = await testConnection(target, {
      hostPolicy: new HostPolicy({ allow: ['10.0.0.0/8'], deny: [] }),
    })
    expect(refused).toEqual({
      ok: false,
      failure: {
        reason: 'host_not_allowed',
        detail:
          'localhost is not allowed by PGA_INSTANCE_HOSTS_ALLOW (neither its name nor every address it resolves to matches a rule)',
      },
    })
  })
})

describe('failure details are not a port scanner', () => {
  const banner = 'SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13 secret-build\r\n'

  it.each(['disable', 'prefer', 'require'])(
    'a server that greets with a banner (sslmode %s): connection_protocol_error, no banner',
    async (sslmode) => {
      const port = await listen('127.0.0.1', (socket) => socket.write(banner))
      const res = await call(open, 'POST', '/api/v1/instances', instance({ port, sslmode }))
      expect(res.status).toBe(422)
      expect(res.body).toMatchObject({
        code: 'connection_protocol_error',
        detail: `127.0.0.1:${port}: the server does not speak the PostgreSQL protocol`,
      })
      expect(JSON.stringify(res.body)).not.toMatch(/OpenSSH|secret-build/)
    },
  )

  it('an error response with text of the peer’s choosing: its code and message are not shown', async () => {
    const fields = 'SFATAL\0CApache/2.4.58 (Ubuntu)\0Msecret banner text\0\0'
    const reply = Buffer.alloc(5 + Buffer.byteLength(fields))
    reply.write('E', 0)
    reply.writeUInt32BE(4 + Buffer.byteLength(fields), 1)
    reply.write(fields, 5)
    const port = await listen('127.0.0.1', (socket) => socket.once('data', () => socket.end(reply)))
    const res = await call(open, 'POST', '/api/v1/instances', instance({ port }))
    expect(res.status).toBe(422)
    expect(res.body).toMatchObject({
      code: 'connection_other',
      detail: `connection to 127.0.0.1:${port} failed`,
    })
    expect(JSON.stringify(res.body)).not.toMatch(/Apache|secret banner/)

    // The collector records the same, not the peer's text.
    const saved = await call(open, 'POST', '/api/v1/instances?test=false', instance({ port }))
    await open.deps.collector.maintainPartitions()
    type Scheduler = { tick(now?: number): Promise<void> }
    await (open.deps.collector as unknown as { scheduler: Scheduler }).scheduler.tick()
    const failures = () =>
      open.deps.db.sql<{ error_code: string; error: string }[]>`
        select error_code, error from sn_stat_snapshot where instance_id = ${saved.body.id} and status = 'failed'`
    await expect
      .poll(async () => (await failures())[0]?.error_code, { timeout: generousMs })
      .toBe('connection_other')
    for (const failure of await failures()) expect(failure.error).not.toMatch(/Apache|secret banner/)
  })
})
