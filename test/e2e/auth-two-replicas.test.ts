// Two replicas of the compiled binary share one store, one Redis and one master key: a token
// issued by one works on the other, and a sign-out or a refresh-token reuse on one is refused by
// the other at once (no wait for a cache to expire), because sessions, refresh tokens and the
// jti blacklist live in Redis and the signing keys in the store.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { createTestDatabase } from '../harness/postgres.ts'
import { tempDir } from '../harness/processes.ts'
import { testMasterKey } from '../support/master-key.ts'
import { binaryInEmptyDir, type ServiceProcess, startService } from '../support/service-process.ts'
import { until } from '../support/until.ts'

const email = 'ops@example.com'
const password = 'a long two replica passphrase'
const requestTimeoutMs = 10_000

let a: ServiceProcess
let b: ServiceProcess
const started: ServiceProcess[] = []

type Tokens = {
  access_token: string
  refresh_token: string
  token_type: string
  expires_in: number
  session_id: string
}
type Reply = { status: number; body: Record<string, unknown> | null; text: string }

async function call(
  service: ServiceProcess,
  method: 'GET' | 'POST' | 'PATCH',
  path: string,
  options: { token?: string; json?: unknown } = {},
): Promise<Reply> {
  const headers: Record<string, string> = {}
  if (options.token) headers.Authorization = `Bearer ${options.token}`
  if (options.json !== undefined) headers['Content-Type'] = 'application/json'
  const res = await fetch(`${service.url}${path}`, {
    method,
    headers,
    ...(options.json !== undefined ? { body: JSON.stringify(options.json) } : {}),
    signal: AbortSignal.timeout(requestTimeoutMs),
  })
  const text = await res.text()
  let body: Record<string, unknown> | null = null
  try {
    body = text ? (JSON.parse(text) as Record<string, unknown>) : null
  } catch {
    body = null
  }
  return { status: res.status, body, text }
}

const show = (what: string, reply: Reply) => `${what} → ${reply.status} ${reply.text}`

async function login(service: ServiceProcess): Promise<Tokens & { user: { email: string } }> {
  const reply = await call(service, 'POST', '/api/v1/auth/login', { json: { email, password } })
  expect(reply.status, show('login', reply)).toBe(200)
  return reply.body as unknown as Tokens & { user: { email: string } }
}

const me = (service: ServiceProcess, token: string) => call(service, 'GET', '/api/v1/auth/me', { token })
const instances = (service: ServiceProcess, key: string) =>
  call(service, 'GET', '/api/v1/instances', { token: key })
const refresh = (service: ServiceProcess, refreshToken: string) =>
  call(service, 'POST', '/api/v1/auth/refresh', { json: { refresh_token: refreshToken } })

function expectInvalidToken(reply: Reply, what: string) {
  expect(reply.status, show(what, reply)).toBe(401)
  expect(reply.body?.code, show(what, reply)).toBe('invalid_token')
}

/** The kid in a JWT's protected header. */
const kidOf = (jwt: string) =>
  (JSON.parse(Buffer.from(jwt.split('.')[0] as string, 'base64url').toString()) as { kid?: string }).kid

beforeAll(async () => {
  const binary = await binaryInEmptyDir('auth-replicas')
  const env = {
    DATABASE_URL: await createTestDatabase(inject('pgUrl')),
    REDIS_URL: inject('redisUrl'),
    PGA_REDIS_KEY_PREFIX: `auth${Math.random().toString(36).slice(2, 8)}:`,
    PGA_MASTER_KEY: testMasterKey,
    PGA_ADMIN_EMAIL: email,
    PGA_ADMIN_PASSWORD: password,
    PGA_COLLECTOR_ENABLED: 'false',
    // Long enough that only the shared cache epoch can end a disabled user's key in time.
    PGA_AUTH_USER_CACHE: '120s',
  }
  // One after the other: the first creates the administrator, the second finds it there.
  a = await startService({ command: binary, cwd: tempDir('auth-a'), env, timeoutMs: 60_000 })
  started.push(a)
  b = await startService({ command: binary, cwd: tempDir('auth-b'), env, timeoutMs: 60_000 })
  started.push(b)
}, 180_000)

afterAll(async () => {
  await Promise.all(started.map((s) => s.stop()))
})

describe('auth across two replicas sharing one Redis', () => {
  it('signs in on one, is signed out on the other, and the first refuses the token at once', async () => {
    const tokens = await login(a)
    expect(tokens.token_type).toBe('Bearer')
    expect(tokens.user.email).toBe(email)

    const onB = await me(b, tokens.access_token)
    expect(onB.status, show('GET /me on B', onB)).toBe(200)
    expect(onB.body?.email).toBe(email)
    // A has now verified the token too (its caches of the user and the keys are warm), and answers
    // from its tracked copy of the session: the sign-out below must reach that copy.
    await until('A serves the session from its copy', async () => {
      const onA = await me(a, tokens.access_token)
      expect(onA.status, show('GET /me on A', onA)).toBe(200)
      const metrics = await (await fetch(`${a.url}/metrics`)).text()
      return (
        metrics.includes('pga_state_cache_armed 1') &&
        /pga_state_cache_reads_total\{result="hit"\} [1-9]/.test(metrics)
      )
    })

    const out = await call(b, 'POST', '/api/v1/auth/logout', { token: tokens.access_token })
    expect(out.status, show('logout on B', out)).toBe(204)

    // No sleep: the very next request on the other replica is refused.
    expectInvalidToken(await me(a, tokens.access_token), 'GET /me on A after logout on B')
    expectInvalidToken(await me(b, tokens.access_token), 'GET /me on B after logout on B')
    expectInvalidToken(await refresh(a, tokens.refresh_token), 'refresh on A after logout on B')
  })

  it('rotates refresh tokens across replicas and ends the session when an old one is reused', async () => {
    const first = await login(a)

    const rotated = await refresh(b, first.refresh_token)
    expect(rotated.status, show('refresh on B', rotated)).toBe(200)
    const second = rotated.body as unknown as Tokens
    expect(second.session_id).toBe(first.session_id)
    expect(second.token_type).toBe('Bearer')
    expect(second.access_token).not.toBe(first.access_token)
    expect(second.refresh_token).not.toBe(first.refresh_token)
    // The token B issued works on A and on B.
    for (const [name, service] of [
      ['A', a],
      ['B', b],
    ] as const) {
      const reply = await me(service, second.access_token)
      expect(reply.status, show(`GET /me on ${name} with B's new token`, reply)).toBe(200)
    }

    // The used refresh token presented again (on the other replica): refused, session ended.
    expectInvalidToken(await refresh(a, first.refresh_token), 'reuse of the old refresh token on A')
    expectInvalidToken(await me(a, second.access_token), "GET /me on A with B's new token after reuse")
    expectInvalidToken(await me(b, second.access_token), "GET /me on B with B's new token after reuse")
    expectInvalidToken(await me(b, first.access_token), 'GET /me on B with the first token after reuse')
    expectInvalidToken(await refresh(b, second.refresh_token), 'refresh on B with the new token after reuse')
  })

  it('publishes the same JWKS on both replicas, with the key that signs the tokens', async () => {
    const tokens = await login(b)
    const [onA, onB] = await Promise.all([a, b].map((s) => call(s, 'GET', '/.well-known/jwks.json')))
    expect(onA?.status, show('JWKS on A', onA as Reply)).toBe(200)
    expect(onB?.status, show('JWKS on B', onB as Reply)).toBe(200)
    expect(onA?.body).toEqual(onB?.body)
    const keys = (onA?.body?.keys ?? []) as { kid: string; alg: string; use: string }[]
    expect(keys.length).toBeGreaterThanOrEqual(1)
    expect(keys.map((k) => k.kid)).toContain(kidOf(tokens.access_token))
    for (const key of keys) {
      expect(key).toMatchObject({ alg: 'EdDSA', use: 'sig', kty: 'OKP', crv: 'Ed25519' })
      expect(key).not.toHaveProperty('d')
    }
    // Both replicas started with PGA_ADMIN_EMAIL: still exactly one administrator.
    const users = await call(a, 'GET', '/api/v1/users', { token: tokens.access_token })
    expect(users.status, show('GET /users on A', users)).toBe(200)
    expect(((users.body?.items ?? []) as { email: string }[]).map((u) => u.email)).toEqual([email])
  })
  it('stops a disabled user’s API key at once on the replica that disabled them, and soon on the other', async () => {
    const admin = await login(a)
    const userEmail = `keys-${Math.random().toString(36).slice(2, 8)}@example.com`
    const userPassword = 'a long passphrase for the key owner'
    const created = await call(a, 'POST', '/api/v1/users', {
      token: admin.access_token,
      json: { email: userEmail, password: userPassword, role: 'operator' },
    })
    expect(created.status, show('create user', created)).toBe(201)
    const owner = await call(a, 'POST', '/api/v1/auth/login', {
      json: { email: userEmail, password: userPassword },
    })
    expect(owner.status, show('owner login', owner)).toBe(200)
    const key = await call(a, 'POST', '/api/v1/api-keys', {
      token: (owner.body as { access_token: string }).access_token,
      json: { name: 'owner key', role: 'operator' },
    })
    expect(key.status, show('create key', key)).toBe(201)
    const secret = (key.body as { key: string }).key
    // Both replicas have the key cached as usable.
    for (const service of [a, b]) expect((await instances(service, secret)).status).toBe(200)
    const disabled = await call(a, 'PATCH', `/api/v1/users/${created.body?.id}`, {
      token: admin.access_token,
      json: { disabled: true },
    })
    expect(disabled.status, show('disable', disabled)).toBe(200)
    expect((await instances(a, secret)).status).toBe(401)
    // B learns it from the shared epoch, long before its 120 s cache would have expired.
    let onB = await instances(b, secret)
    await until(
      'B to refuse the disabled owner’s key',
      async () => {
        onB = await instances(b, secret)
        return onB.status !== 200
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    )
    expect(onB.status, show('GET /instances on B with the disabled owner’s key', onB)).toBe(401)
  })
})
