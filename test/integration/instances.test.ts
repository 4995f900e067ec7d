// Instances API over a real PostgreSQL: a monitoring login with only pg_monitor and a real
// SCRAM password, every connection-failure class, the password encrypted and never shown.

import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { testConnection } from '../../src/instances/connection-test.ts'
import { HostPolicy } from '../../src/instances/host-policy.ts'
import { freePort } from '../harness/processes.ts'
import { startTestApp, type TestApp } from '../support/app.ts'

const token = 'instances-test-admin-token-0123456789'
const password = 'Mon1tor-pass-phrase'
/** No rules beyond the built-in ones. */
const openPolicy = new HostPolicy({ allow: [], deny: [] })
let t: TestApp
let pgPort: number
const role = `pga_mon_${Math.random().toString(36).slice(2, 8)}`
const plainRole = `pga_plain_${Math.random().toString(36).slice(2, 8)}`

beforeAll(async () => {
  t = await startTestApp({ PGA_ADMIN_TOKEN: token })
  const admin = postgres(inject('pgUrl'), { max: 1, onnotice: () => {} })
  pgPort = new URL(inject('pgUrl')).port as unknown as number
  await admin.unsafe(`create role ${role} login password '${password}' in role pga_password_auth, pg_monitor`)
  await admin.unsafe(`create role ${plainRole} login password '${password}' in role pga_password_auth`)
  await admin.end()
})
afterAll(async () => {
  await t.close()
})

const call = async (method: string, path: string, body?: unknown, auth = true): Promise<Response> =>
  t.app.request(path, {
    method,
    headers: { 'Content-Type': 'application/json', ...(auth ? { Authorization: `Bearer ${token}` } : {}) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })

const instance = (overrides: Record<string, unknown> = {}) => ({
  name: `i-${Math.random().toString(36).slice(2, 8)}`,
  host: '127.0.0.1',
  port: Number(pgPort),
  username: role,
  password,
  sslmode: 'disable',
  ...overrides,
})

describe('instances API', () => {
  it('adds an instance after testing it, with a pg_monitor-only login, and never shows the password', async () => {
    const res = await call('POST', '/api/v1/instances', instance({ tags: { env: 'test' } }))
    expect(res.status).toBe(201)
    const body = await res.json()
    expect(body).toMatchObject({
      hasPassword: true,
      sslmode: 'disable',
      tags: { env: 'test' },
      enabled: true,
    })
    expect(body.capabilities).toMatchObject({
      user: role,
      superuser: false,
      pgMonitor: true,
      serverVersionNum: expect.any(Number),
    })
    expect(body.probedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d/)
    expect(JSON.stringify(body)).not.toContain(password)
    const [row] = await t.deps.db.sql`select password_enc from pga_instances where id = ${body.id}`
    expect(row?.password_enc).toMatch(/^pga:v1:\d+:/)
    const listed = await (await call('GET', '/api/v1/instances')).json()
    expect(listed.items.map((i: { id: string }) => i.id)).toContain(body.id)
    expect(JSON.stringify(listed)).not.toContain(password)
    expect(t.logs.text()).not.toContain(password)
  })

  it('says clearly what a login without pg_monitor cannot see', async () => {
    const res = await call('POST', '/api/v1/instances', instance({ username: plainRole }))
    expect(res.status).toBe(201)
    const { capabilities } = await res.json()
    expect(capabilities.pgMonitor).toBe(false)
    expect(capabilities.limitations[0]).toContain(`user ${plainRole} is not a member of pg_monitor`)
  })

  it.each([
    ['a wrong password', { password: 'wrong' }, 'connection_auth', 'password authentication failed'],
    ['a closed port', { port: 1 }, 'connection_refused', 'nothing accepts connections on 127.0.0.1:1'],
    ['an unknown host', { host: 'no-such-host.invalid' }, 'connection_dns', 'does not resolve'],
    [
      'a missing database',
      { database: 'no_such_db' },
      'connection_database_missing',
      'database no_such_db does not exist',
    ],
    ['an unverifiable certificate', { sslmode: 'verify-full' }, 'connection_tls', 'TLS with'],
  ])('refuses %s with a precise 422 and stores nothing', async (_what, overrides, code, detail) => {
    const before = (await call('GET', '/api/v1/instances').then((r) => r.json())).items.length
    const res = await call('POST', '/api/v1/instances', instance(overrides))
    expect(res.status).toBe(422)
    const problem = await res.json()
    expect(problem).toMatchObject({ code })
    expect(problem.detail).toContain(detail)
    expect(JSON.stringify(problem)).not.toContain(password)
    expect((await call('GET', '/api/v1/instances').then((r) => r.json())).items.length).toBe(before)
  })

  it('verifies the server certificate against the given CA (verify-full)', async () => {
    const res = await call(
      'POST',
      '/api/v1/instances',
      instance({ sslmode: 'verify-full', sslRootCert: readFileSync(inject('pgCaFile'), 'utf8') }),
    )
    expect(res.status).toBe(201)
    expect(await res.json()).toMatchObject({ sslmode: 'verify-full', hasSslRootCert: true })
  })

  it('saves without a test on request, then tests and records capabilities', async () => {
    const created = await (await call('POST', '/api/v1/instances?test=false', instance())).json()
    expect(created).toMatchObject({ capabilities: null, probedAt: null })
    const res = await call('POST', `/api/v1/instances/${created.id}/test-connection`)
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ ok: true, capabilities: { pgMonitor: true } })
    expect((await (await call('GET', `/api/v1/instances/${created.id}`)).json()).probedAt).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d/,
    )
  })

  it('updates fields and the password (encrypted again), and a test uses the new password', async () => {
    const created = await (
      await call('POST', '/api/v1/instances?test=false', instance({ password: 'stale' }))
    ).json()
    expect((await call('POST', `/api/v1/instances/${created.id}/test-connection`)).status).toBe(422)
    const patched = await call('PATCH', `/api/v1/instances/${created.id}`, {
      password,
      tags: { env: 'staging' },
    })
    expect(patched.status).toBe(200)
    expect(await patched.json()).toMatchObject({ tags: { env: 'staging' }, hasPassword: true })
    expect((await call('POST', `/api/v1/instances/${created.id}/test-connection`)).status).toBe(200)
    const cleared = await (await call('PATCH', `/api/v1/instances/${created.id}`, { password: null })).json()
    expect(cleared.hasPassword).toBe(false)
  })

  it('refuses a duplicate name (409), bad input (400), unknown ids (404) and no token (401)', async () => {
    const first = instance()
    expect((await call('POST', '/api/v1/instances', first)).status).toBe(201)
    expect(await (await call('POST', '/api/v1/instances', first)).json()).toMatchObject({
      code: 'instance_name_taken',
    })
    const bad = await (
      await call('POST', '/api/v1/instances', { ...instance(), port: 70000, name: '-bad' })
    ).json()
    expect(bad.code).toBe('validation_failed')
    expect(bad.errors.map((e: { path: string }) => e.path).sort()).toEqual(['body.name', 'body.port'])
    expect((await call('GET', '/api/v1/instances/not-a-uuid')).status).toBe(400)
    const unknown = crypto.randomUUID()
    for (const [method, path] of [
      ['GET', `/api/v1/instances/${unknown}`],
      ['PATCH', `/api/v1/instances/${unknown}`],
      ['DELETE', `/api/v1/instances/${unknown}`],
      ['POST', `/api/v1/instances/${unknown}/test-connection`],
    ] as const) {
      const res = await call(method, path, method === 'PATCH' ? { enabled: false } : undefined)
      expect(res.status, `${method} ${path}`).toBe(404)
    }
    expect((await call('GET', '/api/v1/instances', undefined, false)).status).toBe(401)
  })

  it('takes per-group interval overrides and database patterns, and rejects unknown groups and bad intervals', async () => {
    const created = await call(
      'POST',
      '/api/v1/instances?test=false',
      instance({ intervals: { statements: 600, locks: 0 }, excludeDatabases: ['scratch_*'] }),
    )
    expect(created.status).toBe(201)
    const body = await created.json()
    expect(body.intervals).toEqual({ statements: 600, locks: 0 })
    expect(body.effectiveIntervals).toMatchObject({ statements: 600, locks: 0, database: 60, activity: 15 })
    expect(body).toMatchObject({
      includeDatabases: ['*'],
      excludeDatabases: ['scratch_*'],
      collectQueryText: true,
    })
    for (const [intervals, path] of [
      [{ nope: 60 }, 'body.intervals.nope'],
      [{ activity: 3 }, 'body.intervals.activity'],
      [{ activity: 90_000 }, 'body.intervals.activity'],
    ] as const) {
      const res = await call('PATCH', `/api/v1/instances/${body.id}`, { intervals })
      expect(res.status, JSON.stringify(intervals)).toBe(400)
      const problem = await res.json()
      expect(problem.code).toBe('validation_failed')
      expect(problem.errors.map((e: { path: string }) => e.path)).toContain(path)
    }
  })

  it('takes a host name, an IPv4 address or a bracketed IPv6 address, and refuses anything else with 400 on body.host', async () => {
    for (const host of ['db1.internal', 'localhost', 'pg_primary', '10.0.0.1', '[::1]', '[2001:db8::5]']) {
      const res = await call('POST', '/api/v1/instances?test=false', instance({ host }))
      expect(res.status, host).toBe(201)
      expect((await res.json()).host).toBe(host)
    }
    const created = await (await call('POST', '/api/v1/instances?test=false', instance())).json()
    for (const [host, message] of [
      ['g:G', 'a host name, an IPv4 address or an IPv6 address in brackets'],
      ['::1', 'an IPv6 address must be written in brackets: [::1]'],
      ['2001:db8::5', 'an IPv6 address must be written in brackets: [2001:db8::5]'],
      ['[g::1]', 'an IPv6 address in brackets, such as [2001:db8::1]'],
      ['[::1', 'an IPv6 address in brackets, such as [2001:db8::1]'],
      ['999.1.1.1', 'an IPv4 address: four numbers from 0 to 255'],
      ['1.2.3', 'an IPv4 address: four numbers from 0 to 255'],
      ['-db', 'a host name'],
      ['a..b', 'a host name'],
      ['db host', 'a host name'],
      ['db,other', 'a host name'],
      ['/var/run/postgresql', 'a host name'],
      [`${'a'.repeat(64)}.internal`, 'a host name'],
    ] as const) {
      // Refused before any connection is tried: no connection_timeout seconds later.
      const started = performance.now()
      const res = await call('POST', '/api/v1/instances', instance({ host }))
      expect(res.status, host).toBe(400)
      const problem = await res.json()
      expect(problem.code).toBe('validation_failed')
      expect(problem.errors, host).toEqual([{ path: 'body.host', message: expect.stringContaining(message) }])
      expect(performance.now() - started).toBeLessThan(2000)
      const patched = await call('PATCH', `/api/v1/instances/${created.id}`, { host })
      expect(patched.status, host).toBe(400)
      expect((await patched.json()).errors[0].path).toBe('body.host')
    }
  })

  it('connects to a bracketed IPv6 address without the brackets', async () => {
    const server = createServer((socket) =>
      socket.once('data', () => socket.end('HTTP/1.1 400 Bad Request\r\n\r\n')),
    )
    await new Promise<void>((resolve) => server.listen(0, '::1', resolve))
    const { port } = server.address() as { port: number }
    try {
      const res = await call('POST', '/api/v1/instances', instance({ host: '[::1]', port }))
      expect(res.status).toBe(422)
      expect(await res.json()).toMatchObject({
        code: 'connection_protocol_error',
        detail: `[::1]:${port}: the server does not speak the PostgreSQL protocol`,
      })
    } finally {
      server.close()
    }
  })

  it('refuses unknown fields with 400 naming them: isSelf and id cannot be set through the API', async () => {
    const before = (await (await call('GET', '/api/v1/instances')).json()).items.length
    const chosenId = crypto.randomUUID()
    const forged = await call(
      'POST',
      '/api/v1/instances?test=false',
      instance({ isSelf: true, id: chosenId }),
    )
    expect(forged.status).toBe(400)
    const problem = await forged.json()
    expect(problem.code).toBe('validation_failed')
    expect(problem.errors).toEqual([
      { path: 'body.isSelf', message: 'unknown field' },
      { path: 'body.id', message: 'unknown field' },
    ])
    // __proto__ as JSON text (an object literal would set the prototype, not send the key).
    const proto = await t.app.request('/api/v1/instances?test=false', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
      body: JSON.stringify(instance()).replace(/}$/, ',"__proto__":{"isSelf":true}}'),
    })
    expect(proto.status).toBe(400)
    expect((await proto.json()).errors).toEqual([{ path: 'body.__proto__', message: 'unknown field' }])
    expect((await (await call('GET', '/api/v1/instances')).json()).items.length).toBe(before)
    expect((await call('GET', `/api/v1/instances/${chosenId}`)).status).toBe(404)

    const created = await (await call('POST', '/api/v1/instances?test=false', instance())).json()
    for (const body of [
      { isSelf: true },
      { id: chosenId },
      { enabled: false, isSelf: true },
      { capabilities: null },
    ]) {
      const res = await call('PATCH', `/api/v1/instances/${created.id}`, body)
      expect(res.status, JSON.stringify(body)).toBe(400)
      const paths = (await res.json()).errors.map((e: { path: string }) => e.path)
      expect(paths, JSON.stringify(body)).toEqual(
        Object.keys(body)
          .filter((k) => k !== 'enabled')
          .map((k) => `body.${k}`),
      )
    }
    const after = await (await call('GET', `/api/v1/instances/${created.id}`)).json()
    expect(after).toMatchObject({ id: created.id, isSelf: false, enabled: true })
    const [row] = await t.deps.db.sql`select id::text, is_self from pga_instances where id = ${created.id}`
    expect(row).toEqual({ id: created.id, is_self: false })
  })

  it('deletes an instance', async () => {
    const created = await (await call('POST', '/api/v1/instances?test=false', instance())).json()
    expect((await call('DELETE', `/api/v1/instances/${created.id}`)).status).toBe(204)
    expect((await call('GET', `/api/v1/instances/${created.id}`)).status).toBe(404)
  })
})

describe('connection test', () => {
  it('reports a timeout for a server that accepts TCP and never answers', async () => {
    const port = await freePort()
    const silent = createServer(() => {})
    await new Promise<void>((resolve) => silent.listen(port, '127.0.0.1', resolve))
    try {
      const result = await testConnection(
        { host: '127.0.0.1', port, database: 'x', username: 'x', sslmode: 'disable' },
        { timeoutMs: 1000, hostPolicy: openPolicy },
      )
      expect(result).toEqual({
        ok: false,
        failure: {
          reason: 'timeout',
          detail: `no complete PostgreSQL answer from 127.0.0.1:${port} within 1000 ms`,
        },
      })
    } finally {
      silent.close()
    }
  })
})
