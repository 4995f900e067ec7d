// Rules every route's input obeys, whatever its area: a body field the schema does not know is a
// 400 naming it (nothing is mass-assigned or silently dropped).
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
