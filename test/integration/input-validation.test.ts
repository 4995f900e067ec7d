// Rules every route's input obeys, whatever its area: a NUL character (U+0000) in any text of
// the body, the query or the path is a 400 naming the field (PostgreSQL text cannot hold it; it
// used to reach the store and fail as a 500), and a body field the schema does not know is a 400
// naming it (nothing is mass-assigned or silently dropped). Beyond the fields: a required body
// that is missing is a 400, a body in a media type the operation does not take a 415, and a known
// path asked with a method it does not serve a 405 with Allow (docs/API_ROBUSTNESS.md).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestApp, type TestApp } from '../support/app.ts'

const token = 'input-validation-admin-token-0123456789'
let t: TestApp
let instanceId: string
let userId: string

beforeAll(async () => {
  t = await startTestApp({ PGA_ADMIN_TOKEN: token })
  const instance = await call('POST', '/api/v1/instances?test=false', {
    name: 'hygiene',
    host: '127.0.0.1',
    username: 'pga_monitor',
  })
  instanceId = instance.body.id
  const user = await call('POST', '/api/v1/users', {
    email: 'hygiene@example.com',
    role: 'viewer',
    password: 'a long enough pass phrase 42',
  })
  expect(user.status, JSON.stringify(user.body)).toBe(201)
  userId = user.body.id
})
afterAll(async () => {
  await t?.close()
})

async function call(method: string, path: string, body?: unknown) {
  const res = await t.app.request(path, {
    method,
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  return { status: res.status, body: res.status === 204 ? null : await res.json() }
}

const nulMessage = 'must not contain the NUL character (U+0000)'

describe('a NUL character in any text input', () => {
  const cases: [string, string, () => string, unknown, string][] = [
    [
      'API key name (body)',
      'POST',
      () => '/api/v1/api-keys',
      { name: 'ci\u0000key', role: 'viewer' },
      'body.name',
    ],
    [
      'user display name on create (body)',
      'POST',
      () => '/api/v1/users',
      {
        email: 'nul@example.com',
        displayName: 'A\u0000',
        role: 'viewer',
        password: 'a long enough pass phrase 42',
      },
      'body.displayName',
    ],
    [
      'user display name on change (body)',
      'PATCH',
      () => `/api/v1/users/${userId}`,
      { displayName: '\u0000' },
      'body.displayName',
    ],
    [
      'key rotation reason (body)',
      'POST',
      () => '/api/v1/admin/keys/rotate',
      { reason: 'yearly\u0000' },
      'body.reason',
    ],
    [
      'a tag value (body, nested)',
      'PATCH',
      () => `/api/v1/instances/${instanceId}`,
      { tags: { env: 'p\u0000' } },
      'body.tags.env',
    ],
    [
      'a database pattern (body, array)',
      'PATCH',
      () => `/api/v1/instances/${instanceId}`,
      { excludeDatabases: ['ok', 'x\u0000'] },
      'body.excludeDatabases.1',
    ],
    [
      'a configuration value (body, map)',
      'POST',
      () => '/api/v1/config/check',
      { env: { PGA_LOG_LEVEL: 'info\u0000' } },
      'body.env.PGA_LOG_LEVEL',
    ],
    [
      'audit eventType filter (query)',
      'GET',
      () => '/api/v1/audit/logs?eventType=instance.created%00',
      undefined,
      'query.eventType',
    ],
    [
      'audit actorId filter (query)',
      'GET',
      () => '/api/v1/audit/logs?actorId=%00',
      undefined,
      'query.actorId',
    ],
    [
      'metrics database filter (query)',
      'GET',
      () => `/api/v1/instances/${instanceId}/metrics/tables?database=app%00`,
      undefined,
      'query.database',
    ],
    [
      'audit user activity (path)',
      'GET',
      () => '/api/v1/audit/activity/users/u%00x',
      undefined,
      'param.userId',
    ],
  ]

  it.each(cases)(
    '%s: 400 validation_failed naming the field, never a 500',
    async (_what, method, path, body, field) => {
      const res = await call(method, path(), body)
      expect(res.status, JSON.stringify(res.body)).toBe(400)
      expect(res.body).toMatchObject({
        code: 'validation_failed',
        errors: [{ path: field, message: nulMessage }],
      })
    },
  )

  it('SAML response (form body): 400 naming the field', async () => {
    const res = await t.app.request('/api/v1/auth/saml/corp/acs', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ SAMLResponse: 'PHNhbWw+\u0000', RelayState: 'r' }).toString(),
    })
    expect(res.status).toBe(400)
    expect(await res.json()).toMatchObject({
      code: 'validation_failed',
      errors: [{ path: 'body.SAMLResponse', message: nulMessage }],
    })
  })

  it('stores nothing from a refused request', async () => {
    const keys = await call('GET', '/api/v1/api-keys')
    expect(keys.body.items.map((k: { name: string }) => k.name)).not.toContain('ci\u0000key')
    const users = await call('GET', '/api/v1/users')
    expect(users.body.items.map((u: { email: string }) => u.email)).not.toContain('nul@example.com')
  })

  it('lets the same operations through without it', async () => {
    expect((await call('POST', '/api/v1/api-keys', { name: 'ci key', role: 'viewer' })).status).toBe(201)
    expect((await call('PATCH', `/api/v1/users/${userId}`, { displayName: 'Hy Giene' })).status).toBe(200)
    expect((await call('GET', '/api/v1/audit/logs?eventType=instance.created')).status).toBe(200)
    expect((await call('GET', '/api/v1/audit/activity/users/someone')).status).toBe(200)
  })
})

describe('a body field the schema does not know', () => {
  it.each([
    ['key rotation', 'POST', '/api/v1/admin/keys/rotate', { reason: 'yearly', force: true }, ['body.force']],
    [
      'audit verification',
      'POST',
      '/api/v1/audit/verify',
      { archives: false, fromId: 1, all: true },
      ['body.all'],
    ],
    ['configuration check', 'POST', '/api/v1/config/check', { env: {}, strict: true }, ['body.strict']],
    [
      'user change',
      'PATCH',
      '/api/v1/users/{user}',
      { role: 'viewer', isAdmin: true, id: 'x' },
      ['body.isAdmin', 'body.id'],
    ],
    [
      'API key',
      'POST',
      '/api/v1/api-keys',
      { name: 'k', role: 'viewer', ownerUserId: 'x' },
      ['body.ownerUserId'],
    ],
    [
      'instance change',
      'PATCH',
      '/api/v1/instances/{instance}',
      { enabled: true, isSelf: true },
      ['body.isSelf'],
    ],
  ] as const)('%s: 400 naming each unknown field', async (_what, method, path, body, paths) => {
    const res = await call(method, path.replace('{user}', userId).replace('{instance}', instanceId), body)
    expect(res.status, JSON.stringify(res.body)).toBe(400)
    expect(res.body.code).toBe('validation_failed')
    expect(res.body.errors).toEqual(paths.map((p) => ({ path: p, message: 'unknown field' })))
  })
})

async function raw(method: string, path: string, headers: Record<string, string>, body?: string) {
  const res = await t.app.request(path, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...headers },
    ...(body === undefined ? {} : { body }),
  })
  const text = await res.text()
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null }
}

describe('a request without the body its operation requires', () => {
  it.each([
    ['user change', 'PATCH', '/api/v1/users/{user}'],
    ['instance change', 'PATCH', '/api/v1/instances/{instance}'],
    ['user creation', 'POST', '/api/v1/users'],
  ] as const)('%s: 400 naming the body, and nothing changes', async (_what, method, path) => {
    const before = await call('GET', `/api/v1/users/${userId}`)
    const res = await raw(method, path.replace('{user}', userId).replace('{instance}', instanceId), {})
    expect(res.status, JSON.stringify(res.body)).toBe(400)
    expect(res.body).toMatchObject({
      code: 'validation_failed',
      errors: [{ path: 'body', message: 'a request body is required' }],
    })
    expect((await call('GET', `/api/v1/users/${userId}`)).body).toEqual(before.body)
  })

  it('an empty JSON object is still a body: a change of nothing', async () => {
    expect((await call('PATCH', `/api/v1/users/${userId}`, {})).status).toBe(200)
  })

  it('an optional body may be left out', async () => {
    const res = await raw('POST', '/api/v1/audit/verify', {})
    expect(res.status, JSON.stringify(res.body)).toBe(200)
  })
})

describe('a body in a media type the operation does not take', () => {
  it.each([
    ['text/plain', '{"displayName":"x"}'],
    ['application/xml', '<user/>'],
  ])('%s: 415 unsupported_media_type', async (type, body) => {
    const res = await raw('PATCH', `/api/v1/users/${userId}`, { 'Content-Type': type }, body)
    expect(res.status, JSON.stringify(res.body)).toBe(415)
    expect(res.headers.get('content-type')).toBe('application/problem+json')
    expect(res.body.code).toBe('unsupported_media_type')
  })

  it('a body without any Content-Type: 415 as well', async () => {
    const res = await raw('PATCH', `/api/v1/users/${userId}`, {}, '{"displayName":"x"}')
    expect(res.status, JSON.stringify(res.body)).toBe(415)
  })
})

describe('a method a known path does not serve', () => {
  it.each([
    ['PUT', '/api/v1/users', 'GET, HEAD, POST'],
    ['PUT', '/api/v1/users/{user}', 'GET, HEAD, PATCH'],
    ['DELETE', '/livez', 'GET, HEAD'],
    ['GET', '/api/v1/auth/login', 'POST'],
    ['PUT', '/api/v1/backups/trigger', 'POST'],
    // A parameter route of this method would take the path, but the fixed path is its own resource.
    ['GET', '/api/v1/backups/trigger', 'POST'],
    ['DELETE', '/api/v1/backups/trigger', 'POST'],
  ] as const)('%s %s: 405 with Allow: %s', async (method, path, allow) => {
    const res = await raw(method, path.replace('{user}', userId), {})
    expect(res.status, JSON.stringify(res.body)).toBe(405)
    expect(res.headers.get('allow')).toBe(allow)
    expect(res.body.code).toBe('method_not_allowed')
  })

  it('an unknown path stays 404, also with a trailing slash or a parameter its route refuses', async () => {
    expect((await raw('GET', '/api/v1/nothing-here', {})).status).toBe(404)
    expect((await raw('GET', '/api/v1/users/', {})).status).toBe(404)
    expect((await raw('GET', '/docs/not-an-asset.js', {})).status).toBe(404)
  })
})
