// The client address as an attacker would try it: forged forwarding headers from an untrusted
// peer change nothing (the per-address limit holds, the audit trail and the session show the
// peer), clients with no header no longer share one bucket, a trusted proxy's header is used,
// IPv6 clients are limited per /64, and malformed headers never give a 500.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestApp, type TestApp } from '../support/app.ts'

const perMinute = 5
const adminEmail = 'addr-admin@example.com'
const adminPassword = 'correct horse battery staple'
let direct: TestApp
let proxied: TestApp

beforeAll(async () => {
  const env = {
    PGA_AUTH_RATE_PER_ADDRESS: String(perMinute),
    PGA_ADMIN_EMAIL: adminEmail,
    PGA_ADMIN_PASSWORD: adminPassword,
  }
  ;[direct, proxied] = await Promise.all([
    startTestApp(env),
    startTestApp({ ...env, PGA_TRUSTED_PROXIES: '10.0.0.0/8, fd00::/8' }),
  ])
  // Both apps create the first administrator from the environment, as `serve` does.
  const { prepareFirstAdmin } = await import('../../src/auth/service.ts')
  for (const t of [direct, proxied])
    await prepareFirstAdmin(
      { db: t.deps.db.sql, settings: t.deps.auth.accountSettings },
      { email: adminEmail, password: adminPassword },
      t.logs.log,
    )
})
afterAll(async () => {
  await Promise.all([direct?.close(), proxied?.close()])
})

let attempts = 0
/** A failed sign-in (a new unknown account each time, so only the address limit can refuse). */
async function failedLogin(t: TestApp, peer: string, headers: Record<string, string> = {}) {
  attempts++
  const res = await t.app.request(
    '/api/v1/auth/login',
    {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...headers },
      body: JSON.stringify({ email: `nobody${attempts}@example.com`, password: 'wrong password' }),
    },
    { peerAddress: peer },
  )
  const body = (await res.json()) as { code?: string }
  return { status: res.status, code: body.code }
}

async function signIn(t: TestApp, peer: string, headers: Record<string, string> = {}) {
  const res = await t.app.request(
    '/api/v1/auth/login',
    {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'User-Agent': 'addr-test', ...headers },
      body: JSON.stringify({ email: adminEmail, password: adminPassword }),
    },
    { peerAddress: peer },
  )
  expect(res.status).toBe(200)
  return (await res.json()) as { session_id: string }
}

/** Where the audit trail and the session record say a sign-in came from. */
async function recordedAddresses(t: TestApp, sessionId: string) {
  const [event] = await t.deps.db.sql<{ ip: string }[]>`
    select event->>'ipAddress' as ip from audit_outbox
    where event->>'eventType' = 'auth.login' and event->>'outcome' = 'success'
      and event->>'sessionId' = ${sessionId}`
  const [session] = await t.deps.db.sql<{ ip: string }[]>`
    select ip_address as ip from auth_sessions where id = ${sessionId}`
  return { audit: event?.ip, session: session?.ip }
}

describe('client address without trusted proxies', () => {
  it('throttles 40 failed sign-ins that each forge a different X-Forwarded-For', async () => {
    const statuses: number[] = []
    for (let i = 0; i < 40; i++) {
      const forged = {
        'X-Forwarded-For': `203.0.113.${i}`,
        Forwarded: `for=198.18.0.${i}`,
        'X-Real-IP': `192.0.2.${i}`,
      }
      statuses.push((await failedLogin(direct, '198.51.100.7', forged)).status)
    }
    expect(statuses.slice(0, perMinute)).toEqual(Array(perMinute).fill(401))
    expect(statuses.slice(perMinute)).toEqual(Array(40 - perMinute).fill(429))
  })

  it('gives every peer its own bucket: one caller cannot lock out the others', async () => {
    for (let i = 0; i < perMinute + 2; i++) await failedLogin(direct, '198.51.100.20')
    expect(await failedLogin(direct, '198.51.100.20')).toEqual({ status: 429, code: 'rate_limited' })
    expect((await failedLogin(direct, '198.51.100.21')).status).toBe(401)
  })

  it('records the peer, not the forged header, in the audit trail and the session', async () => {
    const { session_id } = await signIn(direct, '198.51.100.30', { 'X-Forwarded-For': '203.0.113.250' })
    expect(await recordedAddresses(direct, session_id)).toEqual({
      audit: '198.51.100.30',
      session: '198.51.100.30',
    })
  })

  it('limits IPv6 clients per /64 and records their full address', async () => {
    for (let i = 0; i < perMinute; i++)
      expect((await failedLogin(direct, `2001:db8:1:2::${i + 1}`)).status).toBe(401)
    // Another address of the same /64 is the same client.
    expect((await failedLogin(direct, '2001:db8:1:2:ffff::9')).code).toBe('rate_limited')
    expect((await failedLogin(direct, '2001:db8:1:3::1')).status).toBe(401)
    const { session_id } = await signIn(direct, '2001:db8:1:9::42')
    expect((await recordedAddresses(direct, session_id)).audit).toBe('2001:db8:1:9::42')
  })
})

describe('client address behind a trusted proxy', () => {
  it('takes the client from the header the proxy appended, walking past trusted hops', async () => {
    const { session_id } = await signIn(proxied, '10.0.0.2', {
      'X-Forwarded-For': '6.6.6.6, 203.0.113.44, 10.1.1.1',
    })
    expect(await recordedAddresses(proxied, session_id)).toEqual({
      audit: '203.0.113.44',
      session: '203.0.113.44',
    })
    const v6 = await signIn(proxied, 'fd00::2', { Forwarded: 'for="[2001:db8::77]:4711"' })
    expect((await recordedAddresses(proxied, v6.session_id)).audit).toBe('2001:db8::77')
  })

  it('limits each client behind the proxy separately', async () => {
    for (let i = 0; i < perMinute; i++)
      await failedLogin(proxied, '10.0.0.2', { 'X-Forwarded-For': '203.0.113.60' })
    expect((await failedLogin(proxied, '10.0.0.2', { 'X-Forwarded-For': '203.0.113.60' })).code).toBe(
      'rate_limited',
    )
    expect((await failedLogin(proxied, '10.0.0.2', { 'X-Forwarded-For': '203.0.113.61' })).status).toBe(401)
  })

  it('ignores a malformed header (no 500) and counts the request against the proxy itself', async () => {
    const malformed: Record<string, string>[] = [
      { 'X-Forwarded-For': 'garbage, 203.0.113.1' },
      { 'X-Forwarded-For': '203.0.113.1, %%%' },
      { Forwarded: 'for=' },
      { Forwarded: ';;;,,,' },
      { 'X-Real-IP': '999.999.999.999' },
      { 'X-Forwarded-For': 'x'.repeat(4000) },
    ]
    for (const headers of malformed) {
      const res = await failedLogin(proxied, '10.0.0.3', headers)
      expect([401, 429], JSON.stringify(headers)).toContain(res.status)
    }
    const { session_id } = await signIn(proxied, '10.0.0.4', { 'X-Forwarded-For': 'garbage' })
    expect((await recordedAddresses(proxied, session_id)).audit).toBe('10.0.0.4')
  })
})
