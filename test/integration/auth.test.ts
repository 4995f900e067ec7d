// Sign-in, tokens, sessions and roles over the real PostgreSQL and Redis: every rejection path of
// the issue has a test that fails if its check is removed, and every outcome is an audit event.

import { decodeBase32IgnorePadding } from '@oslojs/encoding'
import { base64url, SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type PasswordHasher, workerPoolHasher } from '../../src/auth/password-hashing.ts'
import { closePasswordHashing, usePasswordHasher } from '../../src/auth/passwords.ts'
import { SignInThrottle } from '../../src/auth/rate-limit.ts'
import { prepareFirstAdmin } from '../../src/auth/service.ts'
import { currentSigningKey } from '../../src/auth/token-keys.ts'
import { currentStep, totpCode } from '../../src/auth/totp.ts'
import { generateOpenApiDocument } from '../../src/openapi-document.ts'
import { createLogger } from '../../src/platform/log.ts'
import { startTestApp, type TestApp } from '../support/app.ts'
import { manualClock } from '../support/manual-clock.ts'

let t: TestApp
const adminEmail = 'root@example.com'
const adminPassword = 'correct horse battery staple'

type Res = { status: number; body: any; headers: Headers }
const call = async (method: string, path: string, body?: unknown, token?: string): Promise<Res> => {
  const res = await t.app.request(path, {
    method,
    headers: {
      'Content-Type': 'application/json',
      'User-Agent': 'vitest',
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers }
}
const login = async (email: string, password: string) => {
  const res = await call('POST', '/api/v1/auth/login', { email, password })
  expect(res.status, JSON.stringify(res.body)).toBe(200)
  return res.body as { access_token: string; refresh_token: string; session_id: string }
}
const outboxTypes = async () =>
  (
    await t.deps.db.sql<{ type: string; outcome: string }[]>`
      select event->>'eventType' as type, event->>'outcome' as outcome from audit_outbox order by id`
  ).map((r) => `${r.type}:${r.outcome}`)

beforeAll(async () => {
  // Many sign-ins from one address: the per-address limit is tested on its own app below.
  t = await startTestApp({ PGA_AUTH_RATE_PER_ADDRESS: '10000' })
})
afterAll(async () => {
  await t?.close()
})

describe('first start', () => {
  let setupToken = ''
  it('prints a one-time setup token when there are no users', async () => {
    const setup = await prepareFirstAdmin(
      { db: t.deps.db.sql, settings: t.deps.auth.accountSettings },
      {},
      createLogger({ level: 'error' }),
    )
    expect(setup?.setupToken).toMatch(/^[\w-]{32}$/)
    setupToken = setup?.setupToken as string
  })

  it('refuses a wrong token, and a weak password without using the token up', async () => {
    const wrong = await call('POST', '/api/v1/auth/setup', {
      token: 'nope',
      email: adminEmail,
      password: adminPassword,
    })
    expect([wrong.status, wrong.body.code]).toEqual([403, 'setup_token_invalid'])
    const weak = await call('POST', '/api/v1/auth/setup', {
      token: setupToken,
      email: adminEmail,
      password: 'password123',
    })
    expect([weak.status, weak.body.code]).toEqual([400, 'weak_password'])
  })

  it('creates the first administrator once; the token cannot be used again', async () => {
    const res = await call('POST', '/api/v1/auth/setup', {
      token: setupToken,
      email: adminEmail,
      password: adminPassword,
    })
    expect(res.status).toBe(201)
    expect(res.body).toMatchObject({ email: adminEmail, role: 'admin', disabled: false })
    const again = await call('POST', '/api/v1/auth/setup', {
      token: setupToken,
      email: 'other@example.com',
      password: adminPassword,
    })
    expect([again.status, again.body.code]).toEqual([403, 'setup_token_invalid'])
    expect(await outboxTypes()).toEqual(
      expect.arrayContaining(['auth.setup_completed:success', 'auth.setup_completed:failure']),
    )
  })
})

describe('sign-in', () => {
  beforeAll(async () => {
    const admin = await login(adminEmail, adminPassword)
    await call(
      'POST',
      '/api/v1/users',
      { email: 'off@example.com', role: 'viewer', password: 'a disabled account pw' },
      admin.access_token,
    )
    const off = (await call('GET', '/api/v1/users', undefined, admin.access_token)).body.items.find(
      (u: { email: string }) => u.email === 'off@example.com',
    )
    await call('PATCH', `/api/v1/users/${off.id}`, { disabled: true }, admin.access_token)
  })

  it('answers unknown user, wrong password and disabled account alike, and records each', async () => {
    const unknown = await call('POST', '/api/v1/auth/login', {
      email: 'nobody@example.com',
      password: adminPassword,
    })
    const wrong = await call('POST', '/api/v1/auth/login', {
      email: adminEmail,
      password: 'not the password',
    })
    const disabled = await call('POST', '/api/v1/auth/login', {
      email: 'off@example.com',
      password: 'a disabled account pw',
    })
    for (const res of [unknown, wrong, disabled]) {
      expect(res.status).toBe(401)
      expect({ code: res.body.code, detail: res.body.detail }).toEqual({
        code: 'invalid_credentials',
        detail: 'The email or password is not correct.',
      })
    }
    const reasons = (
      await t.deps.db.sql<{ reason: string }[]>`
        select event->'changes'->>'reason' as reason from audit_outbox
         where event->>'eventType' = 'auth.login' and event->>'outcome' = 'failure'`
    ).map((r) => r.reason)
    expect(reasons).toEqual(expect.arrayContaining(['unknown_user', 'wrong_password', 'disabled']))
  })

  it('signs in with any case of the email and returns an OAuth 2.0 style token response', async () => {
    const res = await call('POST', '/api/v1/auth/login', {
      email: 'ROOT@Example.com',
      password: adminPassword,
    })
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ token_type: 'Bearer', expires_in: 900, user: { email: adminEmail } })
    const me = await call('GET', '/api/v1/auth/me', undefined, res.body.access_token)
    expect(me.body).toMatchObject({ email: adminEmail, role: 'admin' })
    const jwks = await call('GET', '/.well-known/jwks.json')
    const kid = JSON.parse(Buffer.from(res.body.access_token.split('.')[0], 'base64url').toString()).kid
    expect(jwks.body.keys.map((k: { kid: string }) => k.kid)).toContain(kid)
    expect(jwks.body.keys[0]).not.toHaveProperty('d')
  })
})

describe('access tokens', () => {
  let good = ''
  let payload: Record<string, unknown> = {}
  beforeAll(async () => {
    good = (await login(adminEmail, adminPassword)).access_token
    payload = JSON.parse(Buffer.from(good.split('.')[1] as string, 'base64url').toString())
  })
  const withOurKey = async (claims: Record<string, unknown>, header: Record<string, unknown> = {}) => {
    const key = await currentSigningKey(t.deps.db.sql, t.deps.keys.keyring())
    return new SignJWT({ ...payload, ...claims })
      .setProtectedHeader({ alg: 'EdDSA', kid: key.kid, typ: 'at+jwt', ...header })
      .sign(key.privateKey)
  }
  const refused = async (token: string) => {
    const res = await call('GET', '/api/v1/auth/me', undefined, token)
    expect(res.status).toBe(401)
    expect(res.body.code).toBe('invalid_token')
    return res.body.detail as string
  }

  it('accepts the genuine token', async () => {
    expect((await call('GET', '/api/v1/auth/me', undefined, good)).status).toBe(200)
  })
  it('refuses a tampered payload or signature', async () => {
    // The genuine token first: its signature is then in the replica's cache of verified tokens,
    // which a token with the same signature and another payload must not match.
    expect((await call('GET', '/api/v1/auth/me', undefined, good)).status).toBe(200)
    const [h, p, s] = good.split('.') as [string, string, string]
    const forged = base64url.encode(
      JSON.stringify({ ...payload, sub: '00000000-0000-4000-8000-000000000000' }),
    )
    expect(await refused(`${h}.${forged}.${s}`)).toMatch(/signature/)
    expect(await refused(`${h}.${p}.${s.slice(0, -4)}AAAA`)).toMatch(/signature/)
  })
  it('refuses alg none and HS256 signed with the public key', async () => {
    const none = `${base64url.encode(JSON.stringify({ alg: 'none', typ: 'at+jwt' }))}.${good.split('.')[1]}.`
    expect(await refused(none)).toMatch(/algorithm/)
    const jwk = (await call('GET', '/.well-known/jwks.json')).body.keys[0]
    const hs = await new SignJWT(payload)
      .setProtectedHeader({ alg: 'HS256', kid: jwk.kid, typ: 'at+jwt' })
      .sign(new TextEncoder().encode(JSON.stringify(jwk)))
    expect(await refused(hs)).toMatch(/algorithm/)
    const hsX = await new SignJWT(payload)
      .setProtectedHeader({ alg: 'HS256', kid: jwk.kid, typ: 'at+jwt' })
      .sign(Buffer.from(jwk.x, 'base64url'))
    expect(await refused(hsX)).toMatch(/algorithm/)
  })
  it('refuses wrong audience, issuer, an expired token and an unknown key', async () => {
    expect(await refused(await withOurKey({ aud: 'someone-else' }))).toMatch(/aud/)
    expect(await refused(await withOurKey({ iss: 'evil' }))).toMatch(/iss/)
    const past = Math.floor(Date.now() / 1000) - 3600
    expect(await refused(await withOurKey({ iat: past - 60, exp: past }))).toMatch(/expired/)
    expect(await refused(await withOurKey({}, { kid: 'unknown-kid' }))).toMatch(/unknown key/)
    // The same claims with our key and the right header pass: the failures above are the claims'.
    expect((await call('GET', '/api/v1/auth/me', undefined, await withOurKey({}))).status).toBe(200)
  })
  it('refuses a token whose jti was signed out, at once, and keeps the session ended if Redis forgets', async () => {
    const session = await login(adminEmail, adminPassword)
    const record = (await t.deps.state.get(`auth:session:{${session.session_id}}`)) as string
    expect((await call('POST', '/api/v1/auth/logout', undefined, session.access_token)).status).toBe(204)
    expect(await refused(session.access_token)).toMatch(/revoked/)
    // Even with the session record back (a Redis failover that lost the delete), the jti is refused.
    await t.deps.state.set(`auth:session:{${session.session_id}}`, record, { ttlMs: 60_000 })
    expect(await refused(session.access_token)).toMatch(/revoked/)
    // And a refresh is refused by the durable record in PostgreSQL, whatever Redis holds.
    const again = await call('POST', '/api/v1/auth/refresh', { refresh_token: session.refresh_token })
    expect([again.status, again.body.code]).toEqual([401, 'invalid_token'])
    expect(again.body.detail).toMatch(/session has ended/)
  })
})

describe('refresh tokens', () => {
  it('rotate on every use; presenting a used one ends the session (the whole family)', async () => {
    const first = await login(adminEmail, adminPassword)
    const second = await call('POST', '/api/v1/auth/refresh', { refresh_token: first.refresh_token })
    expect(second.status).toBe(200)
    expect(second.body.refresh_token).not.toBe(first.refresh_token)
    expect((await call('GET', '/api/v1/auth/me', undefined, second.body.access_token)).status).toBe(200)
    const reuse = await call('POST', '/api/v1/auth/refresh', { refresh_token: first.refresh_token })
    expect([reuse.status, reuse.body.code]).toEqual([401, 'invalid_token'])
    expect(reuse.body.detail).toMatch(/already used/)
    // The attacker's and the user's tokens of that session both stop working.
    expect((await call('GET', '/api/v1/auth/me', undefined, second.body.access_token)).status).toBe(401)
    expect(
      (await call('POST', '/api/v1/auth/refresh', { refresh_token: second.body.refresh_token })).status,
    ).toBe(401)
    expect(await outboxTypes()).toContain('auth.refresh_token_reused:failure')
  })
  it('refuses a forged or malformed refresh token', async () => {
    const session = await login(adminEmail, adminPassword)
    const [id] = session.refresh_token.split('.')
    for (const token of [`${id}.not-the-secret`, 'garbage', `${crypto.randomUUID()}.x`])
      expect((await call('POST', '/api/v1/auth/refresh', { refresh_token: token })).status).toBe(401)
    // A wrong secret does not burn the genuine token.
    expect(
      (await call('POST', '/api/v1/auth/refresh', { refresh_token: session.refresh_token })).status,
    ).toBe(200)
  })
})

describe('accounts', () => {
  let admin = ''
  beforeAll(async () => {
    admin = (await login(adminEmail, adminPassword)).access_token
  })

  it('creates users with the password rules: length, common passwords, the email name', async () => {
    const create = (email: string, password: string) =>
      call('POST', '/api/v1/users', { email, role: 'viewer', password }, admin)
    for (const [password, rule] of [
      ['short1', /at least 12/],
      ['1qaz2wsx3edc', /commonly used/],
      ['jane.doe-secret-2026', /email name/],
      ['x'.repeat(129), /at most 128/],
    ] as const) {
      const res = await create('jane.doe@example.com', password)
      expect([res.status, res.body.code]).toEqual([400, 'weak_password'])
      expect(res.body.errors[0].message).toMatch(rule)
    }
    // No composition rules: a long lower-case passphrase is fine; 64+ characters are allowed.
    expect((await create('jane.doe@example.com', 'plain lower case words only')).status).toBe(201)
    expect((await create('long@example.com', 'p'.repeat(20) + ' '.repeat(10) + 'q'.repeat(60))).status).toBe(
      201,
    )
    expect((await create('JANE.DOE@example.com', 'another fine passphrase')).body.code).toBe('email_taken')
  })

  it('change of password needs the current one, applies the rules, and ends the other sessions', async () => {
    await call(
      'POST',
      '/api/v1/users',
      { email: 'pat@example.com', role: 'operator', password: 'first passphrase here' },
      admin,
    )
    const a = await login('pat@example.com', 'first passphrase here')
    const b = await login('pat@example.com', 'first passphrase here')
    const wrong = await call(
      'POST',
      '/api/v1/auth/change-password',
      { currentPassword: 'nope', newPassword: 'second passphrase here' },
      a.access_token,
    )
    expect([wrong.status, wrong.body.code]).toEqual([401, 'invalid_credentials'])
    const weak = await call(
      'POST',
      '/api/v1/auth/change-password',
      { currentPassword: 'first passphrase here', newPassword: 'password1234' },
      a.access_token,
    )
    expect([weak.status, weak.body.code]).toEqual([400, 'weak_password'])
    const ok = await call(
      'POST',
      '/api/v1/auth/change-password',
      { currentPassword: 'first passphrase here', newPassword: 'second passphrase here' },
      a.access_token,
    )
    expect(ok.status).toBe(200)
    expect((await call('GET', '/api/v1/auth/me', undefined, ok.body.access_token)).status).toBe(200)
    expect((await call('GET', '/api/v1/auth/me', undefined, b.access_token)).status).toBe(401)
    expect((await call('GET', '/api/v1/auth/me', undefined, a.access_token)).status).toBe(401)
    expect(
      (
        await call('POST', '/api/v1/auth/login', {
          email: 'pat@example.com',
          password: 'first passphrase here',
        })
      ).status,
    ).toBe(401)
    expect(
      (await call('GET', '/api/v1/auth/sessions', undefined, ok.body.access_token)).body.items,
    ).toHaveLength(1)
  })

  it('disabling a user ends their sessions at once', async () => {
    await call(
      'POST',
      '/api/v1/users',
      { email: 'sam@example.com', role: 'viewer', password: 'sams passphrase here' },
      admin,
    )
    const sam = await login('sam@example.com', 'sams passphrase here')
    const id = (await call('GET', '/api/v1/auth/me', undefined, sam.access_token)).body.id
    expect((await call('PATCH', `/api/v1/users/${id}`, { disabled: true }, admin)).body.disabled).toBe(true)
    expect((await call('GET', '/api/v1/auth/me', undefined, sam.access_token)).status).toBe(401)
    expect((await call('POST', '/api/v1/auth/refresh', { refresh_token: sam.refresh_token })).status).toBe(
      401,
    )
  })

  it('users list and end their own sessions; others’ sessions are not theirs to end', async () => {
    await call(
      'POST',
      '/api/v1/users',
      { email: 'kim@example.com', role: 'viewer', password: 'kims passphrase here' },
      admin,
    )
    const one = await login('kim@example.com', 'kims passphrase here')
    const two = await login('kim@example.com', 'kims passphrase here')
    const mine = (await call('GET', '/api/v1/auth/sessions', undefined, one.access_token)).body.items
    expect(mine.map((s: { id: string; current: boolean }) => [s.id, s.current])).toEqual(
      expect.arrayContaining([
        [one.session_id, true],
        [two.session_id, false],
      ]),
    )
    expect(
      (await call('DELETE', `/api/v1/auth/sessions/${two.session_id}`, undefined, one.access_token)).status,
    ).toBe(204)
    expect((await call('GET', '/api/v1/auth/me', undefined, two.access_token)).status).toBe(401)
    const adminSession = (await call('GET', '/api/v1/auth/sessions', undefined, admin)).body.items[0].id
    expect(
      (await call('DELETE', `/api/v1/auth/sessions/${adminSession}`, undefined, one.access_token)).status,
    ).toBe(404)
    expect((await call('GET', '/api/v1/auth/me', undefined, admin)).status).toBe(200)
  })
})

describe('roles', () => {
  it('apply the permission matrix, and a refusal is an audit event', async () => {
    const admin = (await login(adminEmail, adminPassword)).access_token
    await call(
      'POST',
      '/api/v1/users',
      { email: 'audrey@example.com', role: 'auditor', password: 'auditors passphrase' },
      admin,
    )
    await call(
      'POST',
      '/api/v1/users',
      { email: 'vic@example.com', role: 'viewer', password: 'viewers passphrase' },
      admin,
    )
    const auditor = (await login('audrey@example.com', 'auditors passphrase')).access_token
    const viewer = (await login('vic@example.com', 'viewers passphrase')).access_token

    expect((await call('GET', '/api/v1/audit/logs', undefined, auditor)).status).toBe(200)
    expect((await call('POST', '/api/v1/audit/verify', {}, auditor)).status).toBe(200)
    const change = await call(
      'POST',
      '/api/v1/instances?test=false',
      { name: 'x', host: 'h', username: 'u' },
      auditor,
    )
    expect([change.status, change.body.code]).toEqual([403, 'permission_denied'])
    expect(
      (
        await call(
          'PUT',
          '/api/v1/audit/retention-policies/sox',
          { retentionDays: 1, archiveAfterDays: null, deletionAllowed: true },
          auditor,
        )
      ).status,
    ).toBe(403)
    expect((await call('GET', '/api/v1/audit/logs', undefined, viewer)).status).toBe(403)
    expect((await call('GET', '/api/v1/instances', undefined, viewer)).status).toBe(200)
    expect(
      (
        await call(
          'POST',
          '/api/v1/users',
          { email: 'v2@example.com', role: 'admin', password: 'escalation attempt pw' },
          viewer,
        )
      ).status,
    ).toBe(403)
    const denied = (
      await t.deps.db.sql<{ actor: string; permission: string }[]>`
        select event->>'actorId' as actor, event->'changes'->>'permission' as permission from audit_outbox
         where event->>'eventType' = 'auth.access_denied'`
    ).map((r) => r.permission)
    expect(denied).toEqual(
      expect.arrayContaining(['instances:write', 'audit:manage', 'audit:read', 'users:manage']),
    )
  })

  it('every operation declares a permission or is one of the named public ones', () => {
    const document = generateOpenApiDocument() as unknown as {
      paths: Record<string, Record<string, { security?: unknown[]; 'x-permission'?: string }>>
    }
    const publicOps = new Set([
      'GET /livez',
      'GET /readyz',
      'GET /api/v1/health',
      'GET /api/v1/version',
      'GET /metrics',
      'POST /api/v1/config/check',
      'GET /api/v1/audit/public-keys',
      'GET /api/v1/audit/checkpoints',
      'POST /api/v1/auth/setup',
      'POST /api/v1/auth/login',
      'POST /api/v1/auth/refresh',
      'POST /api/v1/auth/mfa/verify',
      'GET /.well-known/jwks.json',
      'GET /api/v1/auth/providers',
      'POST /api/v1/auth/ldap/{name}/login',
      'GET /api/v1/auth/saml/{name}/metadata',
      'GET /api/v1/auth/saml/{name}/login',
      'POST /api/v1/auth/saml/{name}/acs',
      'GET /api/v1/auth/oidc/{name}/login',
      'GET /api/v1/auth/oidc/{name}/callback',
      'POST /api/v1/auth/exchange',
    ])
    const undeclared: string[] = []
    for (const [path, methods] of Object.entries(document.paths))
      for (const [method, op] of Object.entries(methods)) {
        const name = `${method.toUpperCase()} ${path}`
        const isPublic = Array.isArray(op.security) && op.security.length === 0
        if (isPublic !== publicOps.has(name) || (!isPublic && !op['x-permission'])) undeclared.push(name)
      }
    expect(undeclared).toEqual([])
  })
})

describe('the token is bound to this service', () => {
  it('carries the claims a verifier needs and nothing else', async () => {
    const { access_token } = await login(adminEmail, adminPassword)
    const [header, claims] = access_token
      .split('.')
      .slice(0, 2)
      .map((part) => JSON.parse(Buffer.from(part, 'base64url').toString()))
    expect(header).toMatchObject({ alg: 'EdDSA', typ: 'at+jwt' })
    // email and role serve relying parties such as Grafana's auth.jwt (docs/DASHBOARDS.md).
    expect(Object.keys(claims).sort()).toEqual([
      'aud',
      'email',
      'exp',
      'iat',
      'iss',
      'jti',
      'role',
      'sid',
      'sub',
      'tv',
    ])
    expect(claims).toMatchObject({ iss: 'pganalytics', aud: 'pganalytics-api' })
  })
})

describe('abuse resistance', () => {
  let limited: TestApp
  // Sign-in delays are measured on this clock: time passes when the test says so.
  const clock = manualClock()
  beforeAll(async () => {
    limited = await startTestApp({}, { clock })
    await prepareFirstAdmin(
      { db: limited.deps.db.sql, settings: limited.deps.auth.accountSettings },
      { email: 'lim@example.com', password: 'rate limited passphrase' },
      createLogger({ level: 'error' }),
    )
  })
  afterAll(async () => {
    await limited?.close()
  })
  const attempt = async (email: string, password: string, address: string) => {
    // The address is the socket peer's, as the runtime passes it to the app.
    const res = await limited.app.request(
      '/api/v1/auth/login',
      {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ email, password }),
      },
      { peerAddress: address },
    )
    return { status: res.status, retryAfter: Number(res.headers.get('Retry-After')), body: await res.json() }
  }

  it('slows an account after 5 failures instead of locking it, alike for unknown accounts', async () => {
    for (const email of ['lim@example.com', 'ghost@example.com']) {
      for (let i = 0; i < 5; i++)
        expect((await attempt(email, 'wrong password', `10.1.0.${i}`)).status).toBe(401)
      const early = await attempt(email, 'rate limited passphrase', '10.1.0.9')
      expect([early.status, early.body.code]).toEqual([429, 'too_many_failed_attempts'])
      expect(early.retryAfter).toBe(1)
      // One second after the fifth failure, less a millisecond: still waiting.
      clock.advance(999)
      const almost = await attempt(email, 'rate limited passphrase', '10.1.0.9')
      expect([almost.status, almost.body.code]).toEqual([429, 'too_many_failed_attempts'])
      expect(almost.retryAfter).toBe(1)
      clock.advance(1)
    }
    expect((await attempt('lim@example.com', 'rate limited passphrase', '10.1.0.9')).status).toBe(200)
    // Success clears the count: the next failure is not delayed.
    expect((await attempt('lim@example.com', 'wrong password', '10.1.0.9')).status).toBe(401)
    expect((await attempt('lim@example.com', 'wrong password', '10.1.0.9')).status).toBe(401)
  })

  it('limits requests per client address and minute, with Retry-After, recording it once', async () => {
    for (let i = 0; i < 30; i++)
      expect((await attempt(`nobody${i}@example.com`, 'wrong password', '10.2.0.1')).status).toBe(401)
    for (let i = 0; i < 3; i++) {
      const over = await attempt('lim@example.com', 'rate limited passphrase', '10.2.0.1')
      expect([over.status, over.body.code]).toEqual([429, 'rate_limited'])
      expect(over.retryAfter).toBeGreaterThan(0)
      expect(over.retryAfter).toBeLessThanOrEqual(60)
    }
    expect((await attempt('lim@example.com', 'rate limited passphrase', '10.2.0.2')).status).toBe(200)
    const recorded = await limited.deps.db.sql<{ n: number }[]>`
      select count(*)::int as n from audit_outbox where event->>'eventType' = 'auth.rate_limited'`
    expect(recorded[0]?.n).toBe(1)
  })

  it('refuses an account at its hourly cap until the hour ends', async () => {
    const throttle = new SignInThrottle(limited.deps.state, { perAddressPerMinute: 30, failuresPerHour: 10 })
    for (let i = 0; i < 10; i++) await throttle.recordFailure('capped@example.com')
    const refusal = await throttle.checkAccount('Capped@Example.com').catch((error) => error)
    expect(refusal.code).toBe('too_many_failed_attempts')
    // The rest of the hour the first failure opened, on the store's clock.
    expect(refusal.extra.retryAfterSeconds).toBeGreaterThan(3500)
    expect(refusal.extra.retryAfterSeconds).toBeLessThanOrEqual(3600)
  })
})

describe('MFA (TOTP)', () => {
  const email = 'mia@example.com'
  const password = 'mias long passphrase'
  let token = ''
  let secret: Uint8Array = new Uint8Array()
  let backupCodes: string[] = []
  let step = 0
  const signIn = async () => (await call('POST', '/api/v1/auth/login', { email, password })).body
  const verify = (mfa_token: string, body: Record<string, string>) =>
    call('POST', '/api/v1/auth/mfa/verify', { mfa_token, ...body })

  beforeAll(async () => {
    const admin = (await login(adminEmail, adminPassword)).access_token
    await call('POST', '/api/v1/users', { email, role: 'operator', password }, admin)
    token = (await login(email, password)).access_token
  })

  it('enrolls with an otpauth URI and QR codes, confirmed by a first code; backup codes shown once', async () => {
    const enrollment = (await call('POST', '/api/v1/auth/mfa/enroll', undefined, token)).body
    expect(enrollment.otpauthUri).toMatch(/^otpauth:\/\/totp\/pganalytics:mia%40example\.com\?.*period=30/)
    expect(enrollment.qrSvg).toMatch(/^<svg/)
    const png = Buffer.from(enrollment.qrPngDataUrl.replace('data:image/png;base64,', ''), 'base64')
    expect(png.subarray(1, 4).toString()).toBe('PNG')
    secret = decodeBase32IgnorePadding(enrollment.secret)
    expect(secret).toHaveLength(20)

    const wrong = await call('POST', '/api/v1/auth/mfa/confirm', { code: '000000' }, token)
    expect([wrong.status, wrong.body.code]).toEqual([400, 'invalid_mfa_code'])
    step = currentStep()
    const ok = await call('POST', '/api/v1/auth/mfa/confirm', { code: totpCode(secret, step) }, token)
    expect(ok.status).toBe(200)
    backupCodes = ok.body.backupCodes
    expect(new Set(backupCodes).size).toBe(10)
    expect(backupCodes[0]).toMatch(/^[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}$/)
    expect((await call('POST', '/api/v1/auth/mfa/enroll', undefined, token)).body.code).toBe(
      'mfa_already_enabled',
    )

    // The seed is encrypted by the keyring and the backup codes are stored as hashes only.
    const [row] = await t.deps.db.sql<{ enc: string; codes: string[] }[]>`
      select mfa_secret_enc as enc, mfa_backup_codes as codes from auth_users where email = ${email}`
    expect(row?.enc).not.toContain(Buffer.from(secret).toString('base64'))
    expect(row?.codes).toHaveLength(10)
    expect(JSON.stringify(row?.codes)).not.toContain((backupCodes[0] as string).replaceAll('-', ''))
  })

  it('signs in in two steps; a code counts once, and only within one step of drift', async () => {
    const challenge = await signIn()
    expect(challenge).toEqual({ mfa_required: true, mfa_token: expect.any(String), expires_in: 300 })
    expect(challenge).not.toHaveProperty('access_token')
    // The confirmation's code was used: replaying it is refused.
    const replay = await verify(challenge.mfa_token, { code: totpCode(secret, step) })
    expect([replay.status, replay.body.code]).toEqual([401, 'invalid_mfa_code'])
    const tooFar = await verify(challenge.mfa_token, { code: totpCode(secret, currentStep() + 2) })
    expect(tooFar.body.code).toBe('invalid_mfa_code')
    const used = totpCode(secret, currentStep() + 1)
    const ok = await verify(challenge.mfa_token, { code: used })
    expect(ok.status).toBe(200)
    expect((await call('GET', '/api/v1/auth/me', undefined, ok.body.access_token)).body.mfaEnabled).toBe(true)
    // The challenge was used up, and the same code does not open a second one.
    expect((await verify(challenge.mfa_token, { code: used })).body.code).toBe('mfa_challenge_invalid')
    const second = await signIn()
    expect((await verify(second.mfa_token, { code: used })).body.code).toBe('invalid_mfa_code')
  })

  it('ends a challenge after 5 wrong codes, slows the account across challenges, refuses an unknown one', async () => {
    const id = (await call('GET', '/api/v1/auth/me', undefined, token)).body.id
    await t.deps.auth.throttle.recordSuccess(`mfa:${id}`) // earlier tests' wrong codes
    const challenge = await signIn()
    for (let i = 0; i < 5; i++)
      expect((await verify(challenge.mfa_token, { code: '123456' })).status).toBe(401)
    const after = await verify(challenge.mfa_token, { backup_code: backupCodes[0] as string })
    expect([after.status, after.body.code]).toEqual([401, 'mfa_challenge_invalid'])
    // A new challenge (the password again) does not reset the count of wrong codes.
    const next = await signIn()
    const slowed = await verify(next.mfa_token, { code: '123456' })
    expect([slowed.status, slowed.body.code]).toEqual([429, 'too_many_failed_attempts'])
    expect((await verify('made-up', { code: '123456' })).body.code).toBe('mfa_challenge_invalid')
    await t.deps.auth.throttle.recordSuccess(`mfa:${id}`)
  })

  it('takes each backup code once', async () => {
    const first = await signIn()
    expect(
      (await verify(first.mfa_token, { backup_code: (backupCodes[1] as string).toLowerCase() })).status,
    ).toBe(200)
    const second = await signIn()
    const reuse = await verify(second.mfa_token, { backup_code: backupCodes[1] as string })
    expect([reuse.status, reuse.body.code]).toEqual([401, 'invalid_mfa_code'])
    expect(await outboxTypes()).toEqual(
      expect.arrayContaining(['auth.mfa_verified:failure', 'auth.mfa_enabled:success']),
    )
  })

  it('turns off only with the password and a code', async () => {
    const session = await verify((await signIn()).mfa_token, { backup_code: backupCodes[2] as string })
    const access = session.body.access_token
    const noPassword = await call(
      'POST',
      '/api/v1/auth/mfa/disable',
      { password: 'wrong', backup_code: backupCodes[3] },
      access,
    )
    expect([noPassword.status, noPassword.body.code]).toEqual([401, 'reauthentication_failed'])
    const noCode = await call('POST', '/api/v1/auth/mfa/disable', { password, code: '000000' }, access)
    expect(noCode.body.code).toBe('reauthentication_failed')
    expect(
      (await call('POST', '/api/v1/auth/mfa/disable', { password, backup_code: backupCodes[3] }, access))
        .status,
    ).toBe(204)
    expect(await signIn()).toHaveProperty('access_token')
  })

  it('a role can be required to use MFA: its members can only enroll until they do', async () => {
    const admin = (await login(adminEmail, adminPassword)).access_token
    const policy = await call('PUT', '/api/v1/auth/mfa-policy', { rolesRequiringMfa: ['operator'] }, admin)
    expect(policy.body).toEqual({ rolesRequiringMfa: ['operator'] })
    const session = await signIn()
    expect(session.mfa_enrollment_required).toBe(true)
    const blocked = await call('GET', '/api/v1/instances', undefined, session.access_token)
    expect([blocked.status, blocked.body.code]).toEqual([403, 'mfa_enrollment_required'])
    expect((await call('GET', '/api/v1/auth/me', undefined, session.access_token)).status).toBe(200)
    const enrollment = (await call('POST', '/api/v1/auth/mfa/enroll', undefined, session.access_token)).body
    const code = totpCode(decodeBase32IgnorePadding(enrollment.secret), currentStep())
    expect((await call('POST', '/api/v1/auth/mfa/confirm', { code }, session.access_token)).status).toBe(200)
    expect((await call('GET', '/api/v1/instances', undefined, session.access_token)).status).toBe(200)
    await call('PUT', '/api/v1/auth/mfa-policy', { rolesRequiringMfa: [] }, admin)
  })
})

describe('token signing keys', () => {
  it('rotate without signing anyone out', async () => {
    const admin = await login(adminEmail, adminPassword)
    const kidOf = (jwt: string) =>
      JSON.parse(Buffer.from(jwt.split('.')[0] as string, 'base64url').toString()).kid
    const rotated = await call('POST', '/api/v1/admin/token-keys/rotate', undefined, admin.access_token)
    expect(rotated.status).toBe(200)
    expect(rotated.body.kid).not.toBe(kidOf(admin.access_token))
    expect((await call('GET', '/api/v1/auth/me', undefined, admin.access_token)).status).toBe(200)
    const fresh = await call('POST', '/api/v1/auth/refresh', { refresh_token: admin.refresh_token })
    expect(kidOf(fresh.body.access_token)).toBe(rotated.body.kid)
    expect((await call('GET', '/api/v1/auth/me', undefined, fresh.body.access_token)).status).toBe(200)
    const kids = (await call('GET', '/.well-known/jwks.json')).body.keys.map((k: { kid: string }) => k.kid)
    expect(kids).toEqual(expect.arrayContaining([rotated.body.kid, kidOf(admin.access_token)]))
  })
})

describe('API keys', () => {
  let operator = ''
  beforeAll(async () => {
    const admin = (await login(adminEmail, adminPassword)).access_token
    await call(
      'POST',
      '/api/v1/users',
      { email: 'olga@example.com', role: 'operator', password: 'operators passphrase' },
      admin,
    )
    operator = (await login('olga@example.com', 'operators passphrase')).access_token
  })

  it('are shown once, greppable, scoped by role, never above their creator', async () => {
    const created = await call(
      'POST',
      '/api/v1/api-keys',
      { name: 'grafana', role: 'viewer', expiresInDays: 30 },
      operator,
    )
    expect(created.status).toBe(201)
    expect(created.body.key).toMatch(/^pgak_[0-9A-Za-z]{32}$/)
    expect(created.body.displayPrefix).toBe(created.body.key.slice(0, 11))
    const key = created.body.key
    expect((await call('GET', '/api/v1/instances', undefined, key)).status).toBe(200)
    const denied = await call(
      'POST',
      '/api/v1/instances?test=false',
      { name: 'k', host: 'h', username: 'u' },
      key,
    )
    expect([denied.status, denied.body.code]).toEqual([403, 'permission_denied'])
    const above = await call('POST', '/api/v1/api-keys', { name: 'too much', role: 'admin' }, operator)
    expect([above.status, above.body.code]).toEqual([403, 'role_exceeds_own'])
    const listed = (await call('GET', '/api/v1/api-keys', undefined, operator)).body.items
    expect(listed.map((k: { name: string }) => k.name)).toEqual(['grafana'])
    expect(JSON.stringify(listed)).not.toContain(key)
    const [stored] = await t.deps.db.sql<
      { h: string }[]
    >`select secret_hash as h from auth_api_keys where name = 'grafana'`
    expect(stored?.h).not.toContain(key.slice(5))
    // It acts as itself in the audit trail: the refusal above names the key.
    const [refusal] = await t.deps.db.sql<{ actor: string }[]>`
      select event->>'actorType' || ':' || (event->>'actorId') as actor from audit_outbox
       where event->>'eventType' = 'auth.access_denied' order by id desc limit 1`
    expect(refusal?.actor).toBe(`api_key:${created.body.id}`)
    expect(
      (await t.deps.db.sql`select 1 from auth_api_keys where name = 'grafana' and last_used_at is not null`)
        .length,
    ).toBe(1)
  })

  it('stop working when revoked, expired, or their user is disabled', async () => {
    const make = async (name: string) =>
      (await call('POST', '/api/v1/api-keys', { name, role: 'viewer' }, operator)).body as {
        id: string
        key: string
      }
    const revoked = await make('to revoke')
    expect((await call('GET', '/api/v1/instances', undefined, revoked.key)).status).toBe(200)
    expect((await call('DELETE', `/api/v1/api-keys/${revoked.id}`, undefined, operator)).status).toBe(204)
    const after = await call('GET', '/api/v1/instances', undefined, revoked.key)
    expect([after.status, after.body.code]).toEqual([401, 'invalid_token'])

    const expired = await make('to expire')
    await t.deps.db
      .sql`update auth_api_keys set expires_at = now() - interval '1 second' where id::text = ${expired.id}`
    t.deps.auth.apiKeys.forget()
    expect((await call('GET', '/api/v1/instances', undefined, expired.key)).status).toBe(401)

    const forged = `pgak_${'A'.repeat(32)}`
    expect((await call('GET', '/api/v1/instances', undefined, forged)).status).toBe(401)

    const owned = await make('owner disabled')
    const admin = (await login(adminEmail, adminPassword)).access_token
    const olga = (await call('GET', '/api/v1/auth/me', undefined, operator)).body.id
    await call('PATCH', `/api/v1/users/${olga}`, { disabled: true }, admin)
    t.deps.auth.apiKeys.forget()
    expect((await call('GET', '/api/v1/instances', undefined, owned.key)).status).toBe(401)
    expect(await outboxTypes()).toEqual(
      expect.arrayContaining(['api_key.created:success', 'api_key.revoked:success']),
    )
  })
})

describe('cookie sessions (browsers)', () => {
  const cookiesOf = (res: Response) =>
    Object.fromEntries(
      res.headers.getSetCookie().map((c) => {
        const [pair = '', ...attributes] = c.split('; ')
        const [name = '', value = ''] = pair.split('=')
        return [name, { value, attributes }]
      }),
    )
  const request = (
    method: string,
    path: string,
    cookie: string,
    headers: Record<string, string> = {},
    body?: unknown,
  ) =>
    t.app.request(path, {
      method,
      headers: {
        Cookie: cookie,
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })

  it('keep the tokens out of scripts’ reach and refuse cross-site changes', async () => {
    const res = await t.app.request('/api/v1/auth/login', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ email: adminEmail, password: adminPassword, session: 'cookie' }),
    })
    expect(res.status).toBe(200)
    const body = await res.json()
    expect(body).not.toHaveProperty('access_token')
    expect(body).not.toHaveProperty('refresh_token')
    // Exactly the documented CookieSession: generated clients that refuse unknown fields (Go)
    // could not decode an extra one such as token_type.
    expect(Object.keys(body).sort()).toEqual(['expires_in', 'mfa_enrollment_required', 'session_id', 'user'])
    const cookies = cookiesOf(res)
    for (const name of ['pga_access', 'pga_refresh'])
      expect(cookies[name]?.attributes).toEqual(
        expect.arrayContaining(['HttpOnly', 'Secure', 'SameSite=Strict']),
      )
    expect(cookies.pga_refresh?.attributes).toContain('Path=/api/v1/auth/refresh')
    const access = `pga_access=${cookies.pga_access?.value}`

    expect((await request('GET', '/api/v1/auth/me', access)).status).toBe(200)
    const forged = await request('POST', '/api/v1/auth/logout', access)
    expect([forged.status, (await forged.json()).code]).toEqual([403, 'csrf_header_required'])

    const refreshed = await request(
      'POST',
      '/api/v1/auth/refresh',
      `pga_refresh=${cookies.pga_refresh?.value}`,
    )
    expect(refreshed.status).toBe(200)
    const next = cookiesOf(refreshed)
    expect(next.pga_access?.value).not.toBe(cookies.pga_access?.value)
    const nextAccess = `pga_access=${next.pga_access?.value}`

    const out = await request('POST', '/api/v1/auth/logout', nextAccess, { 'X-Requested-With': 'fetch' })
    expect(out.status).toBe(204)
    expect(cookiesOf(out).pga_access?.attributes).toContain('Max-Age=0')
    expect((await request('GET', '/api/v1/auth/me', nextAccess)).status).toBe(401)
  })
})

describe('password hashing off the event loop', () => {
  // The real worker pool behind a gate that holds each verification until the test lets it go,
  // so "one sign-in is being verified while another arrives" happens for sure.
  const held: { encoded: string; release: () => void }[] = []
  let arrived: () => void = () => {}
  const gated = (inner: PasswordHasher): PasswordHasher => ({
    hash: (password, params) => inner.hash(password, params),
    async verify(password, encoded) {
      await new Promise<void>((release) => {
        held.push({ encoded, release })
        arrived()
      })
      return inner.verify(password, encoded)
    },
    close: () => inner.close(),
  })
  const nextArrival = () => new Promise<void>((resolve) => (arrived = resolve))

  beforeAll(async () => {
    await usePasswordHasher(gated(workerPoolHasher({ size: 1 })), 1)
  })
  afterAll(async () => {
    for (const h of held.splice(0)) h.release()
    await closePasswordHashing()
  })

  it('verifies an unknown user’s password against the dummy hash, as much work as a real one', async () => {
    const arrival = nextArrival()
    const unknown = call('POST', '/api/v1/auth/login', {
      email: 'nobody@example.com',
      password: adminPassword,
    })
    await arrival
    const [{ encoded, release }] = held.splice(0) as [(typeof held)[number]]
    expect(encoded).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/)
    release()
    expect((await unknown).body.code).toBe('invalid_credentials')
  })

  it('refuses a sign-in with 503 password_hashing_busy and Retry-After while the bound is full', async () => {
    const arrival = nextArrival()
    const first = call('POST', '/api/v1/auth/login', { email: adminEmail, password: adminPassword })
    await arrival
    const second = await call('POST', '/api/v1/auth/login', { email: adminEmail, password: adminPassword })
    expect(second.status).toBe(503)
    expect(second.headers.get('Content-Type')).toBe('application/problem+json')
    expect(second.headers.get('Retry-After')).toBe('1')
    expect(second.body.code).toBe('password_hashing_busy')
    for (const h of held.splice(0)) h.release()
    expect((await first).status).toBe(200)
    // Room again: the next sign-in goes through.
    const arrival2 = nextArrival()
    const third = call('POST', '/api/v1/auth/login', { email: adminEmail, password: adminPassword })
    await arrival2
    for (const h of held.splice(0)) h.release()
    expect((await third).status).toBe(200)
  })
})
