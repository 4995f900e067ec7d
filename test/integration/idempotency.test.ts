// Idempotency-Key over the real app, PostgreSQL and Redis: replay without running again, the
// scope (principal, method, route), 409 while the first attempt runs, 422 for another payload,
// 400 for a malformed key, release of requests that did not run, responses encrypted at rest,
// and the durable mark that stops a second change when Redis lost the record.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { idempotencyScope } from '../../src/http/middleware/idempotency.ts'
import { startTcpGate, type TcpGate } from '../harness/tcp-gate.ts'
import { startTestApp, type TestApp } from '../support/app.ts'

const adminToken = 'idempotency-test-admin-token-0123456789abcdef'
let t: TestApp
let gate: TcpGate
let apiKey = ''

type Reply = { status: number; body: Record<string, unknown>; headers: Headers }
async function call(
  method: string,
  path: string,
  options: { body?: unknown; key?: string; token?: string; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const res = await t.app.request(
    path,
    {
      method,
      headers: {
        'Content-Type': 'application/json',
        Authorization: `Bearer ${options.token ?? adminToken}`,
        ...(options.key === undefined ? {} : { 'Idempotency-Key': options.key }),
        ...options.headers,
      },
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    },
    { peerAddress: '192.0.2.10' },
  )
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : {}, headers: res.headers }
}

const pgPort = () => Number(new URL(inject('pgUrl')).port)
const instance = (name: string, port = pgPort()) => ({
  name,
  host: '127.0.0.1',
  port,
  username: 'postgres',
  sslmode: 'disable',
  enabled: false,
})
const createInstance = (name: string, key?: string, options: { port?: number; test?: boolean } = {}) =>
  call('POST', `/api/v1/instances?test=${options.test ?? false}`, {
    body: instance(name, options.port),
    ...(key === undefined ? {} : { key }),
  })
const countInstances = async (name: string) =>
  (await t.deps.db.sql<{ n: number }[]>`select count(*)::int as n from pga_instances where name = ${name}`)[0]
    ?.n
const countEvents = async (type: string, resourceId: string) =>
  (
    await t.deps.db.sql<{ n: number }[]>`
      select count(*)::int as n from audit_outbox
      where event->>'eventType' = ${type} and event->>'resourceId' = ${resourceId}`
  )[0]?.n

beforeAll(async () => {
  t = await startTestApp({ PGA_ADMIN_TOKEN: adminToken, PGA_IDEMPOTENCY_WAIT: '300ms' })
  gate = await startTcpGate(pgPort())
  const created = await call('POST', '/api/v1/api-keys', {
    body: { name: 'second principal', role: 'admin' },
  })
  expect(created.status).toBe(201)
  apiKey = created.body.key as string
})
afterAll(async () => {
  await gate?.close()
  await t?.close()
})

describe('Idempotency-Key', () => {
  it('replays the response of a retry without running the operation again', async () => {
    const first = await createInstance('idem-replay', 'key-replay-1')
    expect(first.status).toBe(201)
    expect(first.headers.get('Idempotent-Replayed')).toBeNull()
    for (let i = 0; i < 3; i++) {
      const retry = await createInstance('idem-replay', 'key-replay-1')
      expect(retry.status).toBe(201)
      expect(retry.headers.get('Idempotent-Replayed')).toBe('true')
      expect(retry.headers.get('Content-Type')).toMatch(/application\/json/)
      expect(retry.body).toEqual(first.body)
    }
    expect(await countInstances('idem-replay')).toBe(1)
    expect(await countEvents('instance.created', first.body.id as string)).toBe(1)
    // Without a key the same request runs again (and is refused as a duplicate name).
    expect((await createInstance('idem-replay')).body.code).toBe('instance_name_taken')
  })

  it('treats the same body with members in another order as the same payload', async () => {
    const body = instance('idem-order')
    const reordered = Object.fromEntries(Object.entries(body).reverse())
    const first = await call('POST', '/api/v1/instances?test=false', { body, key: 'key-order' })
    const retry = await call('POST', '/api/v1/instances?test=false', { body: reordered, key: 'key-order' })
    expect([first.status, retry.status]).toEqual([201, 201])
    expect(retry.headers.get('Idempotent-Replayed')).toBe('true')
  })

  it('answers 422 idempotency_key_reused for another payload, path or query, and changes nothing', async () => {
    expect((await createInstance('idem-reuse-a', 'key-reuse')).status).toBe(201)
    const other = await createInstance('idem-reuse-b', 'key-reuse')
    expect([other.status, other.body.code]).toEqual([422, 'idempotency_key_reused'])
    expect(other.headers.get('Content-Type')).toBe('application/problem+json')
    const otherQuery = await call('POST', '/api/v1/instances?test=true', {
      body: instance('idem-reuse-a'),
      key: 'key-reuse',
    })
    expect(otherQuery.body.code).toBe('idempotency_key_reused')
    expect(await countInstances('idem-reuse-b')).toBe(0)
  })

  it('scopes keys to the principal and the route', async () => {
    const mine = await createInstance('idem-scope-a', 'key-scope')
    // Same key, another principal: its own operation.
    const theirs = await call('POST', '/api/v1/instances?test=false', {
      body: instance('idem-scope-b'),
      key: 'key-scope',
      token: apiKey,
    })
    // Same key and principal, another route: its own operation too.
    const update = await call('PATCH', `/api/v1/instances/${mine.body.id}`, {
      body: { tags: { env: 'scoped' } },
      key: 'key-scope',
    })
    expect([mine.status, theirs.status, update.status]).toEqual([201, 201, 200])
    expect(theirs.headers.get('Idempotent-Replayed')).toBeNull()
    expect(update.headers.get('Idempotent-Replayed')).toBeNull()
    // PATCH and DELETE replay too.
    const again = await call('PATCH', `/api/v1/instances/${mine.body.id}`, {
      body: { tags: { env: 'scoped' } },
      key: 'key-scope',
    })
    expect(again.headers.get('Idempotent-Replayed')).toBe('true')
    const removed = await call('DELETE', `/api/v1/instances/${theirs.body.id}`, { key: 'key-delete' })
    const removedAgain = await call('DELETE', `/api/v1/instances/${theirs.body.id}`, { key: 'key-delete' })
    expect([removed.status, removedAgain.status]).toEqual([204, 204])
    expect(removedAgain.headers.get('Idempotent-Replayed')).toBe('true')
    expect((await call('DELETE', `/api/v1/instances/${theirs.body.id}`)).status).toBe(404)
  })

  it.each([
    ['empty', ''],
    ['too long', 'k'.repeat(256)],
    ['sent twice', 'a, b'],
    ['with a control character', 'bad\tkey'],
    ['with a quote inside', 'bad"key'],
    ['half quoted', '"open'],
  ])('answers 400 idempotency_key_invalid for a key %s, and runs nothing', async (_, key) => {
    const res = await createInstance(`idem-bad-${key.length}`, key)
    expect([res.status, res.body.code]).toEqual([400, 'idempotency_key_invalid'])
    expect(await countInstances(`idem-bad-${key.length}`)).toBe(0)
  })

  it('leaves requests to no route alone (404 each time, nothing kept)', async () => {
    for (let i = 0; i < 2; i++) {
      const res = await call('POST', '/api/v1/no-such-route', { body: {}, key: 'key-nowhere' })
      expect([res.status, res.body.code, res.headers.get('Idempotent-Replayed')]).toEqual([
        404,
        'not_found',
        null,
      ])
    }
  })

  it('accepts the key as a structured-field string', async () => {
    const first = await createInstance('idem-sf', '"8e03978e-40d5-43e8-bc93-6894a57f9324"')
    const retry = await createInstance('idem-sf', '"8e03978e-40d5-43e8-bc93-6894a57f9324"')
    expect([first.status, retry.headers.get('Idempotent-Replayed')]).toEqual([201, 'true'])
  })

  it('answers 409 idempotency_in_progress while the first attempt runs, then replays it', async () => {
    // The connection test of the first attempt goes through the gate, held shut.
    const first = createInstance('idem-running', 'key-running', { port: gate.port, test: true })
    await gate.waitForConnections(1)
    const concurrent = await createInstance('idem-running', 'key-running', { port: gate.port, test: true })
    expect([concurrent.status, concurrent.body.code]).toEqual([409, 'idempotency_in_progress'])
    expect(Number(concurrent.headers.get('Retry-After'))).toBeGreaterThan(0)
    gate.open()
    const done = await first
    expect(done.status).toBe(201)
    const retry = await createInstance('idem-running', 'key-running', { port: gate.port, test: true })
    expect([retry.status, retry.headers.get('Idempotent-Replayed')]).toEqual([201, 'true'])
    expect(retry.body.id).toBe(done.body.id)
    expect(await countInstances('idem-running')).toBe(1)
  })

  it('releases the key when the request did not run (401), so a corrected retry runs', async () => {
    const login = (password: string) =>
      t.app.request(
        '/api/v1/auth/login',
        {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', 'Idempotency-Key': 'key-login' },
          body: JSON.stringify({ email: 'idem-nobody@example.com', password }),
        },
        { peerAddress: '192.0.2.11' },
      )
    expect((await login('first wrong password')).status).toBe(401)
    // A kept 401 would make this a reused key (another body): 422. Released, it runs: 401 again.
    const second = await login('second wrong password')
    expect(second.status).toBe(401)
    expect(((await second.json()) as { code: string }).code).not.toBe('idempotency_key_reused')
  })

  it('keeps a replayed secret encrypted at rest', async () => {
    const first = await call('POST', '/api/v1/api-keys', {
      body: { name: 'idem key', role: 'viewer' },
      key: 'key-k',
    })
    const retry = await call('POST', '/api/v1/api-keys', {
      body: { name: 'idem key', role: 'viewer' },
      key: 'key-k',
    })
    expect(first.status).toBe(201)
    expect(retry.headers.get('Idempotent-Replayed')).toBe('true')
    expect(retry.body.key).toBe(first.body.key)
    const stored = await t.deps.state.get(
      `idem:${idempotencyScope('admin_token:admin', 'POST', '/api/v1/api-keys', 'key-k')}`,
    )
    expect(stored).toContain('"s":"done"')
    expect(stored).not.toContain(first.body.key as string)
    expect(stored).not.toContain(
      Buffer.from(first.body.key as string)
        .toString('base64')
        .slice(0, 20),
    )
    const keys = await t.deps.db.sql`select 1 from auth_api_keys where name = 'idem key'`
    expect(keys).toHaveLength(1)
  })

  it('stops a second change when the state store lost the record (durable mark)', async () => {
    const first = await createInstance('idem-durable', 'key-durable')
    expect(first.status).toBe(201)
    // As if Redis restarted without persistence, or the replica died before storing the response.
    const record = `idem:${idempotencyScope('admin_token:admin', 'POST', '/api/v1/instances', 'key-durable')}`
    expect(await t.deps.state.delete(record)).toBe(true)
    for (let i = 0; i < 2; i++) {
      const retry = await createInstance('idem-durable', 'key-durable')
      expect([retry.status, retry.body.code]).toEqual([409, 'idempotency_key_committed'])
    }
    expect(await countInstances('idem-durable')).toBe(1)
  })

  it('lets only one of two racing attempts commit under a key (primary key in the transaction)', async () => {
    const { recordAuditEvent } = await import('../../src/audit/events.ts')
    const scope = idempotencyScope('admin_token:admin', 'POST', '/api/v1/api-keys', 'key-race')
    const attempt = (id: string) =>
      t.deps.db.sql.begin(async (tx) => {
        await tx`insert into auth_api_keys (name, display_prefix, secret_hash, role)
                 values ('race', 'pgak_race', ${id}, 'viewer')`
        await recordAuditEvent(
          tx,
          { actor: { type: 'admin_token', id: 'admin' }, idempotency: { scope, attempt: id } },
          { eventType: 'auth.api_key_created', resourceType: 'api_key', action: 'create' },
        )
      })
    const outcomes = await Promise.allSettled([attempt(crypto.randomUUID()), attempt(crypto.randomUUID())])
    expect(outcomes.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected'])
    const refusal = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult
    expect(refusal.reason.code).toBe('idempotency_key_committed')
    expect(await t.deps.db.sql`select 1 from auth_api_keys where name = 'race'`).toHaveLength(1)
  })

  it('declares the header on operations that create things or start work', async () => {
    const doc = (await (await t.app.request('/openapi.json')).json()) as {
      paths: Record<string, Record<string, { parameters?: { $ref?: string }[] }>>
      components: { parameters: Record<string, { name: string; in: string }> }
    }
    expect(doc.components.parameters.IdempotencyKey).toMatchObject({ name: 'Idempotency-Key', in: 'header' })
    const declaring = Object.entries(doc.paths).flatMap(([path, operations]) =>
      Object.entries(operations)
        .filter(([, op]) => op.parameters?.some((p) => p.$ref === '#/components/parameters/IdempotencyKey'))
        .map(([method]) => `${method.toUpperCase()} ${path}`),
    )
    expect(declaring).toEqual(
      expect.arrayContaining([
        'POST /api/v1/instances',
        'POST /api/v1/users',
        'POST /api/v1/api-keys',
        'POST /api/v1/admin/keys/rotate',
        'POST /api/v1/admin/token-keys/rotate',
        'POST /api/v1/audit/archives',
      ]),
    )
  })
})
