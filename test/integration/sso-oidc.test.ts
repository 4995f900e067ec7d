// OAuth 2.0 / OpenID Connect sign-in against a real OIDC provider process (npm oidc-provider on
// Node, loopback): the full authorization-code flow with PKCE (S256), state and nonce, through
// the Keycloak preset and the generic one, a public client, and GitHub (OAuth 2.0 with its API,
// against a local stand-in). Then every refusal: wrong, reused or foreign state, wrong nonce,
// expired, tampered or foreign ID tokens, wrong audience or azp, disallowed algorithms, a missing
// email_verified for linking, an issuer that does not match its discovery document.
import { createServer } from 'node:http'
import { decodeJwt, importJWK, SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type GitHubStandIn, startGitHubStandIn } from '../harness/github-stand-in.ts'
import { startOidcProvider, type TestOidcProvider } from '../harness/oidc-provider.ts'
import { freePort } from '../harness/processes.ts'
import { startTestApp, type TestApp } from '../support/app.ts'
import { adminToken, browser, client, events, lastEventId } from '../support/sso.ts'

const publicUrl = 'https://pga.example.test'
const callback = (name: string) => `${publicUrl}/api/v1/auth/oidc/${name}/callback`
const clientSecret = 'pga-client-secret-0123456789'

let t: TestApp
let op: TestOidcProvider
let github: GitHubStandIn
const http = client(() => t)

const roleMapping = [
  { claim: 'groups', value: 'pga-admins', role: 'admin' },
  { claim: 'groups', value: 'pga-operators', role: 'operator' },
  { claim: 'groups', value: 'pga-viewers', role: 'viewer' },
]
const accounts = {
  alice: {
    claims: {
      email: 'alice@corp.test',
      email_verified: true,
      name: 'Alice A',
      preferred_username: 'alice',
      groups: ['pga-admins'],
    },
  },
  bob: { claims: { email: 'bob@corp.test', email_verified: true, name: 'Bob B', groups: ['pga-operators'] } },
  carl: { claims: { email: 'carl@corp.test', name: 'Carl C', groups: ['pga-viewers'] } },
  dora: {
    claims: { email: 'dora@corp.test', email_verified: true, groups: ['pga-viewers'] },
    amr: ['pwd', 'otp'],
  },
  erin: { claims: { email: 'erin@corp.test', email_verified: true, groups: ['staff'] } },
}

async function createProvider(
  name: string,
  settings: Record<string, unknown>,
  extra: Record<string, unknown> = {},
) {
  const res = await http.admin('POST', '/api/v1/identity-providers', {
    type: 'oidc',
    name,
    settings,
    roleMapping,
    strict: true,
    ...extra,
  })
  expect(res.status, JSON.stringify(res.body)).toBe(201)
  return res.body
}

type Flow = { b: ReturnType<typeof browser>; authorize: URL; callbackUrl: URL }
/** Starts at the service, plays the browser at the provider, stops before the callback. */
async function toCallback(provider: string, login: string, change?: (url: URL) => void): Promise<Flow> {
  const b = browser(() => t)
  const start = await b.get(`/api/v1/auth/oidc/${provider}/login?returnTo=/app/instances`)
  expect(start.status, start.text).toBe(302)
  const authorize = new URL(start.headers.get('location') ?? '')
  change?.(authorize)
  const back = await op.authorize(authorize.toString(), login, callback(provider))
  return { b, authorize, callbackUrl: new URL(back) }
}
const finish = (flow: Flow, b = flow.b) => b.get(flow.callbackUrl.pathname + flow.callbackUrl.search)
async function signIn(provider: string, login: string) {
  const flow = await toCallback(provider, login)
  const res = await finish(flow)
  expect(res.status, res.text).toBe(303)
  const exchanged = await flow.b.exchange(flow.b.codeOf(res))
  expect(exchanged.status, exchanged.text).toBe(200)
  return exchanged.body
}
/** The callback is refused; returns the reason audited. */
async function refusedAtCallback(flow: Flow, b = flow.b) {
  const since = await lastEventId(t)
  const res = await finish(flow, b)
  expect([res.status, res.body?.code], res.text).toEqual([401, 'oidc_callback_rejected'])
  return (await events(t, { type: 'auth.login', since })).find((e) => e.outcome === 'failure')?.changes.reason
}
/** Signs a token with the provider's own key (a malicious provider, or a network in between). */
async function mint(claims: Record<string, unknown>, alg = 'RS256') {
  const key = await importJWK(op.signingJwk, 'RS256')
  return new SignJWT(claims).setProtectedHeader({ alg, kid: op.signingJwk.kid }).sign(key)
}
const rewriteIdToken = (change: (claims: Record<string, unknown>) => Promise<string> | string) =>
  op.rewriteNextTokenResponse(async (body) => ({
    ...body,
    id_token: await change(decodeJwt(body.id_token as string) as Record<string, unknown>),
  }))

beforeAll(async () => {
  ;[t, op, github] = await Promise.all([
    startTestApp({
      PGA_ADMIN_TOKEN: adminToken,
      PGA_PUBLIC_URL: publicUrl,
      PGA_SSO_RETURN_PATHS: '/app/',
      PGA_AUTH_RATE_PER_ADDRESS: '10000',
    }),
    startOidcProvider({
      clients: [
        {
          client_id: 'pga',
          client_secret: clientSecret,
          redirect_uris: ['keycloak', 'generic'].map(callback),
        },
        { client_id: 'pga-public', redirect_uris: [callback('public')], token_endpoint_auth_method: 'none' },
      ],
      accounts,
    }),
    startGitHubStandIn({
      clientId: 'gh-client',
      clientSecret: 'gh-secret',
      users: [
        {
          id: 4242,
          login: 'octo',
          name: 'Octo Cat',
          emails: [
            { email: 'octo@users.noreply.test', primary: false, verified: true },
            { email: 'octo@corp.test', primary: true, verified: true },
          ],
          orgs: ['acme'],
          teams: [{ org: 'acme', slug: 'dba' }],
        },
        { id: 4343, login: 'outsider', name: null, emails: [], orgs: ['elsewhere'], teams: [] },
      ],
    }),
  ])
  const keycloak = { preset: 'keycloak', baseUrl: op.baseUrl, realm: op.realm, clientId: 'pga', clientSecret }
  await createProvider(
    'keycloak',
    { ...keycloak, scopes: ['openid', 'email', 'profile', 'groups'] },
    {
      linking: { byVerifiedEmail: true, domains: ['corp.test'] },
    },
  )
  await createProvider('generic', {
    preset: 'generic',
    issuer: op.issuer,
    clientId: 'pga',
    clientSecret,
    scopes: ['openid', 'email', 'groups'],
  })
  await createProvider('public', {
    preset: 'generic',
    issuer: op.issuer,
    clientId: 'pga-public',
    scopes: ['openid', 'email', 'groups'],
  })
})
afterAll(async () => {
  await t?.close()
  await op?.stop()
  await github?.stop()
})

describe('a valid sign-in', () => {
  it('the code flow with PKCE, state and nonce (Keycloak preset): roles from the groups claim', async () => {
    const flow = await toCallback('keycloak', 'alice')
    const params = flow.authorize.searchParams
    expect(flow.authorize.origin + flow.authorize.pathname).toBe(`${op.issuer}/auth`)
    expect(params.get('code_challenge_method')).toBe('S256')
    expect(params.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(params.get('state')).toBeTruthy()
    expect(params.get('nonce')).toBeTruthy()
    expect(params.get('redirect_uri')).toBe(callback('keycloak'))
    const res = await finish(flow)
    expect(res.status, res.text).toBe(303)
    expect(res.headers.get('location')).toMatch(/^\/app\/instances#sso_code=/)
    const tokens = await flow.b.exchange(flow.b.codeOf(res))
    expect(tokens.body.user).toMatchObject({
      email: 'alice@corp.test',
      displayName: 'Alice A',
      role: 'admin',
      source: 'oidc',
      identityProvider: 'keycloak',
    })
    const login = (await events(t, { type: 'auth.login' })).find((e) => e.changes.provider === 'keycloak')
    expect(login?.changes.method).toBe('oidc')
    // The state is used up: the same callback again is refused.
    expect(await refusedAtCallback(flow)).toBe('unknown_state')
  })

  it('the generic preset (issuer discovery) and a public client (PKCE, no secret)', async () => {
    expect((await signIn('generic', 'bob')).user.role).toBe('operator')
    expect((await signIn('public', 'dora')).user.role).toBe('viewer')
  })

  it('refuses a user no rule matches under strict mapping; trusts the provider’s MFA (amr) only when set to', async () => {
    const flow = await toCallback('generic', 'erin')
    const res = await finish(flow)
    expect([res.status, res.body.code]).toEqual([403, 'sso_no_role'])
    await http.admin('PUT', '/api/v1/auth/mfa-policy', { rolesRequiringMfa: ['viewer'] })
    expect((await signIn('public', 'dora')).mfa_enrollment_required).toBe(true)
    await http.admin('PATCH', '/api/v1/identity-providers/public', { trustProviderMfa: true })
    expect((await signIn('public', 'dora')).mfa_enrollment_required).toBe(false)
    await http.admin('PUT', '/api/v1/auth/mfa-policy', { rolesRequiringMfa: [] })
  })

  it('links an existing account by email only when the provider says email_verified', async () => {
    for (const email of ['carl@corp.test', 'bea@corp.test'])
      await http.admin('POST', '/api/v1/users', {
        email,
        role: 'viewer',
        password: 'a long local passphrase here',
      })
    const carl = await toCallback('keycloak', 'carl')
    const res = await finish(carl)
    expect([res.status, res.body.code]).toEqual([409, 'account_exists'])
    // The same email, verified this time (the claim rewritten and re-signed by the provider's key).
    const flow = await toCallback('keycloak', 'carl')
    rewriteIdToken((claims) => mint({ ...claims, email_verified: true }))
    const linked = await finish(flow)
    expect(linked.status, linked.text).toBe(303)
    expect((await flow.b.exchange(flow.b.codeOf(linked))).body.user).toMatchObject({
      email: 'carl@corp.test',
      identityProvider: 'keycloak',
    })
  })

  it('GitHub: OAuth 2.0 with PKCE, user and verified email from the API, roles from teams, organizations enforced', async () => {
    await createProvider(
      'github',
      {
        preset: 'github',
        clientId: 'gh-client',
        clientSecret: 'gh-secret',
        webBaseUrl: github.webBaseUrl,
        apiBaseUrl: github.apiBaseUrl,
        allowedOrganizations: ['acme'],
      },
      { roleMapping: [{ claim: 'teams', value: 'acme/dba', role: 'admin' }] },
    )
    const signInWith = async (login: string) => {
      const b = browser(() => t)
      const start = await b.get('/api/v1/auth/oidc/github/login?returnTo=/app/')
      const back = new URL(github.authorize(start.headers.get('location') ?? '', login))
      return { b, res: await b.get(back.pathname + back.search) }
    }
    const octo = await signInWith('octo')
    expect(octo.res.status, octo.res.text).toBe(303)
    expect((await octo.b.exchange(octo.b.codeOf(octo.res))).body.user).toMatchObject({
      email: 'octo@corp.test',
      displayName: 'Octo Cat',
      role: 'admin',
      identityProvider: 'github',
    })
    const since = await lastEventId(t)
    const outsider = await signInWith('outsider')
    expect([outsider.res.status, outsider.res.body.code]).toEqual([401, 'oidc_callback_rejected'])
    expect((await events(t, { type: 'auth.login', since }))[0]?.changes.reason).toBe('not_in_organization')
  })
})

describe('refused callbacks', () => {
  it('a wrong or forged state, a state from another browser, an error from the provider', async () => {
    const b = browser(() => t)
    await b.get('/api/v1/auth/oidc/generic/login')
    const since = await lastEventId(t)
    const forged = await b.get('/api/v1/auth/oidc/generic/callback?code=abc&state=not-a-state-of-ours')
    expect([forged.status, forged.body.code]).toEqual([401, 'oidc_callback_rejected'])
    expect((await events(t, { type: 'auth.login', since }))[0]?.changes.reason).toBe('unknown_state')
    const flow = await toCallback('generic', 'bob')
    expect(
      await refusedAtCallback(
        flow,
        browser(() => t),
      ),
    ).toBe('browser_mismatch')
    const denied = await b.get('/api/v1/auth/oidc/generic/callback?error=access_denied&state=x')
    expect(denied.body.code).toBe('oidc_callback_rejected')
    // A state started for one provider, brought to another provider's callback.
    const other = await toCallback('keycloak', 'bob')
    const crossed = new URL(other.callbackUrl.toString().replace('/keycloak/', '/generic/'))
    expect(await refusedAtCallback({ ...other, callbackUrl: crossed })).toBe('state_for_other_provider')
  })

  it('an ID token for another sign-in (nonce)', async () => {
    const flow = await toCallback('generic', 'bob', (url) =>
      url.searchParams.set('nonce', 'someone-elses-nonce'),
    )
    expect(await refusedAtCallback(flow)).toBe('nonce_mismatch')
  })

  it('expired, tampered, from another issuer, for another audience or azp, with a disallowed algorithm', async () => {
    const now = Math.floor(Date.now() / 1000)
    const cases: [string, (claims: Record<string, unknown>, raw?: string) => Promise<string> | string][] = [
      ['id_token_expired', (c) => mint({ ...c, iat: now - 900, exp: now - 600 })],
      ['id_token_signature', (c) => mint({ ...c, sub: 'someone-else' }).then(tamperSignatureKeepPayload(c))],
      ['id_token_iss', (c) => mint({ ...c, iss: 'http://127.0.0.1:9/realms/other' })],
      ['id_token_aud', (c) => mint({ ...c, aud: 'another-client' })],
      ['azp_mismatch', (c) => mint({ ...c, aud: ['pga', 'another-client'] })],
      [
        'id_token_algorithm',
        (c) =>
          new SignJWT(c).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(clientSecret)),
      ],
    ]
    for (const [reason, change] of cases) {
      const flow = await toCallback('generic', 'bob')
      rewriteIdToken(change)
      expect(await refusedAtCallback(flow), reason).toBe(reason)
    }
    // The untouched token, re-signed by the provider's key, passes: the changes above are what failed.
    const control = await toCallback('generic', 'bob')
    rewriteIdToken((c) => mint(c))
    expect((await finish(control)).status).toBe(303)
  })
})

/** A token whose payload says `claims` but whose signature was made over something else. */
const tamperSignatureKeepPayload = (claims: Record<string, unknown>) => (signed: string) => {
  const [header, , signature] = signed.split('.')
  return `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`
}

describe('provider checks', () => {
  it('tests discovery, JWKS and PKCE; an issuer that does not match its discovery document is unusable', async () => {
    const report = await http.admin('POST', '/api/v1/identity-providers/keycloak/test')
    expect(report.body.ok, JSON.stringify(report.body)).toBe(true)
    expect(report.body.steps.map((s: { step: string }) => s.step)).toEqual(['discovery', 'JWKS', 'PKCE'])
    const liar = createServer((_req, res) =>
      res
        .writeHead(200, { 'Content-Type': 'application/json' })
        .end(JSON.stringify({ issuer: 'https://elsewhere.example' })),
    )
    await new Promise<void>((resolve) => liar.listen(0, '127.0.0.1', resolve))
    try {
      await createProvider('liar', {
        issuer: `http://127.0.0.1:${(liar.address() as { port: number }).port}`,
        clientId: 'x',
        clientSecret: 'y',
      })
      const start = await browser(() => t).get('/api/v1/auth/oidc/liar/login')
      expect([start.status, start.body.code]).toEqual([503, 'identity_provider_unavailable'])
      expect(start.body.detail).toMatch(/names issuer https:\/\/elsewhere.example/)
    } finally {
      liar.close()
    }
    await createProvider('gone', {
      issuer: `http://127.0.0.1:${await freePort()}`,
      clientId: 'x',
      clientSecret: 'y',
    })
    const gone = await browser(() => t).get('/api/v1/auth/oidc/gone/login')
    expect([gone.status, gone.body.code]).toEqual([503, 'identity_provider_unavailable'])
    const insecure = await http.admin('POST', '/api/v1/identity-providers', {
      type: 'oidc',
      name: 'insecure',
      settings: { issuer: 'http://login.example.com', clientId: 'x' },
    })
    expect([insecure.status, insecure.body.errors?.[0]?.path]).toEqual([400, 'body.settings.issuer'])
  })
})
