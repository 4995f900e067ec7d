// Grafana's JWT sign-in against pganalytics, as far as it can be run without Grafana: a real
// access token of each role verifies against the service's /.well-known/jwks.json with the
// claims grafana/grafana-jwt.ini expects (iss, aud, EdDSA, kid), carries the email Grafana signs
// the user in with, and the role_attribute_path of that file maps admin -> Admin,
// operator -> Editor, viewer -> Viewer and refuses auditor. A revoked session's token still
// verifies for Grafana until it expires (Grafana has no revocation): the documented window.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestApp, type TestApp } from '../support/app.ts'
import { repoRoot } from '../support/service-process.ts'

const token = 'grafana-jwt-test-admin-token-0123456789'
let t: TestApp

const ini = readFileSync(join(repoRoot, 'grafana', 'grafana-jwt.ini'), 'utf8')
const setting = (name: string) => new RegExp(`^${name} = (.*)$`, 'm').exec(ini)?.[1] ?? ''

/** Grafana's role_attribute_path of the form `role == 'x' && 'Y' || ...`, evaluated on claims. */
function grafanaRole(claims: Record<string, unknown>): string | null {
  for (const branch of setting('role_attribute_path').split('||')) {
    const match = /^\s*(\w+) == '([^']+)' && '([^']+)'\s*$/.exec(branch)
    if (!match) throw new Error(`unexpected role_attribute_path branch: ${branch}`)
    if (claims[match[1] as string] === match[2]) return match[3] as string
  }
  return null // role_attribute_strict: Grafana refuses the sign-in
}

const call = async (path: string, body?: unknown, bearer = token) => {
  const res = await t.app.request(path, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${bearer}` },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  return (await res.json()) as Record<string, unknown>
}

beforeAll(async () => {
  t = await startTestApp({ PGA_ADMIN_TOKEN: token })
})
afterAll(async () => {
  await t?.close()
})

describe('Grafana auth.jwt with pganalytics access tokens', () => {
  it('verifies each role’s token against the JWKS and maps the role as the ini says', async () => {
    const expected = JSON.parse(setting('expect_claims')) as { iss: string; aud: string }
    const mapping: Record<string, string | null> = {
      admin: 'Admin',
      operator: 'Editor',
      viewer: 'Viewer',
      auditor: null,
    }
    for (const [role, grafana] of Object.entries(mapping)) {
      const email = `${role}-user@example.com`
      await call('/api/v1/users', { email, role, password: 'correct horse grafana staple' })
      const login = await call('/api/v1/auth/login', { email, password: 'correct horse grafana staple' })
      const accessToken = login.access_token as string
      // Fetched after sign-in, as Grafana would on meeting the key id (the first login makes the key).
      const jwks = createLocalJWKSet((await call('/.well-known/jwks.json')) as never)
      expect(decodeProtectedHeader(accessToken)).toMatchObject({ alg: 'EdDSA', kid: expect.any(String) })
      const { payload } = await jwtVerify(accessToken, jwks, { issuer: expected.iss, audience: expected.aud })
      expect(payload[setting('email_claim')], role).toBe(email)
      expect(grafanaRole(payload), role).toBe(grafana)
    }
  })

  it('publishes keys Grafana can fetch: Ed25519 OKP keys with kid and alg', async () => {
    await call('/api/v1/users', {
      email: 'keys@example.com',
      role: 'viewer',
      password: 'correct horse grafana staple',
    })
    await call('/api/v1/auth/login', { email: 'keys@example.com', password: 'correct horse grafana staple' })
    const { keys } = (await call('/.well-known/jwks.json')) as { keys: Record<string, string>[] }
    expect(keys.length).toBeGreaterThan(0)
    for (const key of keys)
      expect(key).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', kid: expect.any(String) })
    expect(setting('jwk_set_url')).toMatch(/^https:\/\/.*\/\.well-known\/jwks\.json$/)
  })

  it('a signed-out token is refused by pganalytics but verifies for Grafana until it expires', async () => {
    const email = 'leaver@example.com'
    await call('/api/v1/users', { email, role: 'viewer', password: 'correct horse grafana staple' })
    const login = await call('/api/v1/auth/login', { email, password: 'correct horse grafana staple' })
    const accessToken = login.access_token as string
    await t.app.request('/api/v1/auth/logout', {
      method: 'POST',
      headers: { Authorization: `Bearer ${accessToken}` },
    })
    const me = await t.app.request('/api/v1/auth/me', { headers: { Authorization: `Bearer ${accessToken}` } })
    expect(me.status).toBe(401)
    const jwks = createLocalJWKSet((await call('/.well-known/jwks.json')) as never)
    const { payload } = await jwtVerify(accessToken, jwks, {
      issuer: 'pganalytics',
      audience: 'pganalytics-api',
    })
    expect((payload.exp as number) - (payload.iat as number)).toBeLessThanOrEqual(15 * 60)
  })
})
