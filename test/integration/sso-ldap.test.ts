// LDAP / Active Directory sign-in against a real OpenLDAP (slapd) with users and nested groups:
// roles from group mapping (direct, nested, memberOf), just-in-time users, strict mapping, linking,
// MFA policy, TLS (ldaps, StartTLS, wrong CA), the directory down or silent (503 quickly), the same
// 401 and throttling as local sign-in, filter injection and the empty-password bind trap. Every
// refusal is checked with the reason the audit trail records.

import { decodeBase32IgnorePadding } from '@oslojs/encoding'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { currentStep, totpCode } from '../../src/auth/totp.ts'
import { freePort } from '../harness/processes.ts'
import { directory, startSlapd, type TestSlapd } from '../harness/slapd.ts'
import { startTcpGate, type TcpGate } from '../harness/tcp-gate.ts'
import { startTestApp, type TestApp } from '../support/app.ts'
import { adminToken, client, events, lastEventId } from '../support/sso.ts'

let t: TestApp
let slapd: TestSlapd
let gate: TcpGate
const http = client(() => t)

const ldapSettings = () => ({
  url: slapd.url,
  startTls: true,
  caCert: slapd.caPem,
  bindDn: directory.serviceDn,
  bindPassword: directory.servicePassword,
  userBaseDn: directory.peopleDn,
  userFilter: '(&(objectClass=inetOrgPerson)(uid={username}))',
  groupBaseDn: directory.groupsDn,
  groupFilter: '(&(objectClass=groupOfNames)(member={dn}))',
  nestedGroups: 'walk',
  emailsVerified: true,
})
const roleMapping = () => [
  { group: directory.group('pga-admins'), role: 'admin' },
  { group: directory.group('pga-operators'), role: 'operator' },
  { group: directory.group('pga-auditors'), role: 'auditor' },
  { group: directory.group('pga-viewers'), role: 'viewer' },
]

async function createProvider(body: Record<string, unknown>) {
  const res = await http.admin('POST', '/api/v1/identity-providers', { type: 'ldap', ...body })
  expect(res.status, JSON.stringify(res.body)).toBe(201)
  return res.body
}
const login = (provider: string, username: string, password: string, peer = '10.9.0.1') =>
  client(() => t, peer).send('POST', `/api/v1/auth/ldap/${provider}/login`, { username, password })
const refusalReason = async (since: number) =>
  (await events(t, { type: 'auth.login', since })).find((e) => e.outcome === 'failure')?.changes.reason

beforeAll(async () => {
  ;[slapd, t] = await Promise.all([
    startSlapd(),
    startTestApp({
      PGA_ADMIN_TOKEN: adminToken,
      PGA_AUTH_RATE_PER_ADDRESS: '60',
      PGA_LDAP_TIMEOUT: '1500ms',
    }),
  ])
  gate = await startTcpGate(slapd.port)
  await createProvider({ name: 'corp', settings: ldapSettings(), roleMapping: roleMapping(), strict: true })
})
afterAll(async () => {
  await gate?.close()
  await t?.close()
  await slapd?.stop()
})

describe('sign-in with roles from groups', () => {
  it('maps nested groups (alice in dba-team in pga-admins; grace three levels down) and creates the users', async () => {
    const since = await lastEventId(t)
    for (const [uid, role] of [
      ['alice', 'admin'],
      ['grace', 'admin'],
      ['bob', 'operator'],
      ['carol', 'viewer'],
      ['heidi', 'auditor'],
    ] as const) {
      const res = await login('corp', uid, directory.password(uid))
      expect(res.status, `${uid}: ${JSON.stringify(res.body)}`).toBe(200)
      expect(res.body).toMatchObject({
        token_type: 'Bearer',
        user: { email: `${uid}@example.org`, role, source: 'ldap', identityProvider: 'corp' },
        mfa_enrollment_required: false,
      })
      const me = await http.as(res.body.access_token)('GET', '/api/v1/auth/me')
      expect(me.body.role).toBe(role)
    }
    const created = await events(t, { type: 'user.created', since })
    expect(created).toHaveLength(5)
    expect(created[0]).toMatchObject({ actorType: 'system', actorId: 'identity-provider:corp' })
    const logins = (await events(t, { type: 'auth.login', since })).filter((e) => e.outcome === 'success')
    expect(logins[0]?.changes).toMatchObject({ method: 'ldap', provider: 'corp' })
  })

  it('refuses a user no rule matches under strict mapping (dave is only in a group loop)', async () => {
    const since = await lastEventId(t)
    const res = await login('corp', 'dave', directory.password('dave'))
    expect([res.status, res.body.code]).toEqual([403, 'sso_no_role'])
    expect(await refusalReason(since)).toBe('no_matching_role')
    // Not strict: the default role instead.
    await createProvider({
      name: 'lenient',
      settings: ldapSettings(),
      roleMapping: roleMapping(),
      defaultRole: 'viewer',
    })
    const lenient = await login('lenient', 'dave', directory.password('dave'))
    expect([lenient.status, lenient.body.user?.role]).toEqual([200, 'viewer'])
  })

  it('answers a wrong password and an unknown user alike (401 invalid_credentials), with the real reason audited', async () => {
    const since = await lastEventId(t)
    const wrong = await login('corp', 'bob', 'not-bobs-password')
    const unknown = await login('corp', 'nobody', 'whatever-password')
    for (const res of [wrong, unknown]) {
      expect(res.status).toBe(401)
      expect({ code: res.body.code, detail: res.body.detail }).toEqual({
        code: 'invalid_credentials',
        detail: 'The username or password is not correct.',
      })
    }
    const reasons = (await events(t, { type: 'auth.login', since })).map((e) => e.changes.reason)
    expect(reasons).toEqual(['wrong_password', 'unknown_user'])
    expect(JSON.stringify(await events(t, { since }))).not.toContain('not-bobs-password')
  })

  it('refuses an empty password before any bind (the directory would accept it as an anonymous bind)', async () => {
    const since = await lastEventId(t)
    const res = await login('corp', 'alice', '')
    expect([res.status, res.body.code]).toEqual([401, 'invalid_credentials'])
    expect(await refusalReason(since)).toBe('empty_password')
  })

  it('escapes the username in the filter: wildcards, filter breaks and NUL fail closed', async () => {
    const since = await lastEventId(t)
    // With alice's real password: an unescaped `al*` or `alice)(uid=*` would find alice and bind.
    for (const username of ['al*', '*', 'alice)(uid=*', '*)(|(uid=*', 'alic\\65', 'alice\u0000', '\\00'])
      expect((await login('corp', username, directory.password('alice'))).status, username).toBe(401)
    const reasons = (await events(t, { type: 'auth.login', since })).map((e) => e.changes.reason)
    expect(reasons).not.toContain(undefined)
    expect(reasons.every((r) => ['unknown_user', 'ambiguous_user', 'invalid_username'].includes(r))).toBe(
      true,
    )
  })

  it('throttles like local sign-in: per account (growing delay) and per address', async () => {
    for (let i = 0; i < 5; i++)
      expect((await login('corp', 'carol', 'wrong-password', '10.9.1.1')).status).toBe(401)
    const delayed = await login('corp', 'carol', directory.password('carol'), '10.9.1.2')
    expect([delayed.status, delayed.body.code]).toEqual([429, 'too_many_failed_attempts'])
    expect(Number(delayed.headers.get('retry-after'))).toBeGreaterThan(0)
    let last = 0
    for (let i = 0; i < 61; i++) last = (await login('corp', `nobody${i}`, 'pw', '203.0.113.77')).status
    expect(last).toBe(429)
  })
})

describe('directory transport', () => {
  it('signs in over ldaps:// with the CA, and refuses a server the CA did not sign (503 with the cause)', async () => {
    await createProvider({
      name: 'ldaps',
      settings: { ...ldapSettings(), url: slapd.ldapsUrl, startTls: false },
      roleMapping: roleMapping(),
    })
    await slapd.addPerson('tls1', ['pga-operators'])
    expect((await login('ldaps', 'tls1', directory.password('tls1'))).status).toBe(200)
    for (const [name, settings] of [
      ['ldaps-wrong-ca', { url: slapd.ldapsUrl, startTls: false, caCert: slapd.otherCaPem }],
      ['starttls-wrong-ca', { caCert: slapd.otherCaPem }],
    ] as const) {
      await createProvider({ name, settings: { ...ldapSettings(), ...settings }, roleMapping: roleMapping() })
      const res = await login(name, 'bob', directory.password('bob'))
      expect([res.status, res.body.code], name).toEqual([503, 'identity_provider_unavailable'])
      expect(res.body.detail).toMatch(/certificate/i)
    }
    // Verification off (labs only) accepts the unknown CA.
    await createProvider({
      name: 'lab',
      settings: { ...ldapSettings(), caCert: slapd.otherCaPem, tlsVerify: false },
      roleMapping: roleMapping(),
    })
    await slapd.addPerson('tls2', ['pga-operators'])
    expect((await login('lab', 'tls2', directory.password('tls2'))).status).toBe(200)
  })

  it('refuses plaintext ldap:// unless allowed, and StartTLS on ldaps://', async () => {
    const plain = await http.admin('POST', '/api/v1/identity-providers', {
      type: 'ldap',
      name: 'plain',
      settings: { ...ldapSettings(), startTls: false },
    })
    expect([plain.status, plain.body.errors?.[0]?.path]).toEqual([400, 'body.settings.startTls'])
    const both = await http.admin('POST', '/api/v1/identity-providers', {
      type: 'ldap',
      name: 'both',
      settings: { ...ldapSettings(), url: slapd.ldapsUrl },
    })
    expect([both.status, both.body.errors?.[0]?.path]).toEqual([400, 'body.settings.startTls'])
  })

  it('a directory that is down or does not answer is a 503 with the cause, within the timeout', async () => {
    const closed = await freePort()
    await createProvider({
      name: 'down',
      settings: {
        ...ldapSettings(),
        url: `ldap://127.0.0.1:${closed}`,
        startTls: false,
        allowPlaintext: true,
      },
    })
    const since = await lastEventId(t)
    const down = await login('down', 'bob', directory.password('bob'))
    expect([down.status, down.body.code]).toEqual([503, 'identity_provider_unavailable'])
    expect(down.body.detail).toMatch(/ECONNREFUSED/)
    expect(down.headers.get('retry-after')).toBe('5')
    expect(await refusalReason(since)).toBe('directory_unavailable')
    // Accepts the connection and never answers: the provider's timeout ends it.
    await createProvider({
      name: 'silent',
      settings: {
        ...ldapSettings(),
        url: `ldap://127.0.0.1:${gate.port}`,
        startTls: false,
        allowPlaintext: true,
        timeoutMs: 1000,
      },
    })
    const silent = await login('silent', 'bob', directory.password('bob'))
    expect([silent.status, silent.body.code]).toEqual([503, 'identity_provider_unavailable'])
    expect(silent.body.detail).toMatch(/time|no answer/i)
    // A wrong service-account password is the provider's fault, not the user's.
    await createProvider({ name: 'bad-bind', settings: { ...ldapSettings(), bindPassword: 'wrong' } })
    const badBind = await login('bad-bind', 'bob', directory.password('bob'))
    expect([badBind.status, badBind.body.detail]).toEqual([
      503,
      expect.stringMatching(/service account bind/),
    ])
  })
})

describe('directory shapes', () => {
  it('Active Directory style: sAMAccountName, objectGUID as the id, memberOf with nested groups, disabled accounts', async () => {
    await createProvider({
      name: 'ad',
      settings: {
        url: slapd.ldapsUrl,
        caCert: slapd.caPem,
        bindDn: directory.serviceDn,
        bindPassword: directory.servicePassword,
        userBaseDn: directory.adDn,
        userFilter:
          '(&(objectClass=user)(sAMAccountName={username})(!(userAccountControl:1.2.840.113556.1.4.803:=2)))',
        uniqueIdAttribute: 'objectGUID',
        usernameAttribute: 'sAMAccountName',
        groupBaseDn: directory.adDn,
        groupFilter: '(&(objectClass=group)(member={dn}))',
        nestedGroups: 'walk',
      },
      roleMapping: [
        { group: directory.adGroup('PGA Admins'), role: 'admin' },
        { group: directory.adGroup('PGA Operators'), role: 'operator' },
      ],
      strict: true,
    })
    const jsmith = await login('ad', 'JSmith', directory.password('jsmith'))
    expect(jsmith.status, JSON.stringify(jsmith.body)).toBe(200)
    expect(jsmith.body.user).toMatchObject({ role: 'admin', email: 'jsmith@corp.example.org' })
    const [row] = await t.deps.db
      .sql`select external_id from auth_users where email = 'jsmith@corp.example.org'`
    // objectGUID bytes 0f1e2d3c 4b5a 6978 8796 a5b4c3d2e101, first three fields little-endian.
    expect(row?.external_id).toBe('3c2d1e0f-5a4b-7869-8796-a5b4c3d2e101')
    expect((await login('ad', 'mjones', directory.password('mjones'))).body.user?.role).toBe('operator')
    expect((await login('ad', 'olduser', directory.password('olduser'))).status).toBe(401)
  })

  it('direct bind by DN template (no service account), with the username escaped for a DN', async () => {
    await createProvider({
      name: 'direct',
      settings: {
        url: slapd.ldapsUrl,
        caCert: slapd.caPem,
        userDnTemplate: `uid={username},${directory.peopleDn}`,
        userBaseDn: directory.peopleDn,
        memberOfAttribute: 'memberOf',
      },
      roleMapping: roleMapping(),
      strict: true,
    })
    // oscar's memberOf (the memberof overlay) names pga-operators directly.
    expect((await login('direct', 'oscar', directory.password('oscar'))).body.user?.role).toBe('operator')
    expect((await login('direct', 'oscar,ou=people', directory.password('oscar'))).status).toBe(401)
    expect((await login('direct', 'oscar', 'wrong')).status).toBe(401)
  })

  it('the provider test reports each step, and in-chain on a server that is not AD', async () => {
    const report = await http.admin('POST', '/api/v1/identity-providers/corp/test', {
      username: 'alice',
      password: directory.password('alice'),
    })
    expect(report.status).toBe(200)
    expect(report.body.ok).toBe(true)
    expect(report.body.identity).toMatchObject({ role: 'admin', email: 'alice@example.org' })
    expect(report.body.identity.groups).toEqual(expect.arrayContaining([directory.group('pga-admins')]))
    await createProvider({ name: 'inchain', settings: { ...ldapSettings(), nestedGroups: 'in-chain' } })
    const inChain = await http.admin('POST', '/api/v1/identity-providers/inchain/test')
    expect(inChain.body.ok).toBe(false)
    expect(inChain.body.steps.find((s: { step: string }) => s.step === 'in-chain rule')?.detail).toMatch(
      /not say it is Active Directory/,
    )
  })
})

describe('accounts', () => {
  it('links an existing local account only by the explicit rule (verified email, listed domain)', async () => {
    const local = await http.admin('POST', '/api/v1/users', {
      email: 'frank@example.org',
      role: 'viewer',
      password: 'a local passphrase nobody guesses',
    })
    expect(local.status).toBe(201)
    // frank had no mail in the directory; now it names the local account's address.
    await slapd.modify(
      `dn: ${directory.person('frank')}\nchangetype: modify\nadd: mail\nmail: frank@example.org\n`,
    )
    const since = await lastEventId(t)
    const refused = await login('corp', 'frank', directory.password('frank'))
    expect([refused.status, refused.body.code]).toEqual([409, 'account_exists'])
    expect(await refusalReason(since)).toBe('account_exists_not_linked')
    const patched = await http.admin('PATCH', '/api/v1/identity-providers/corp', {
      linking: { byVerifiedEmail: true, domains: ['example.org'] },
    })
    expect(patched.status).toBe(200)
    const linked = await login('corp', 'frank', directory.password('frank'))
    expect(linked.status).toBe(200)
    expect(linked.body.user).toMatchObject({ id: local.body.id, identityProvider: 'corp', role: 'viewer' })
    expect((await events(t, { type: 'user.linked', since }))[0]?.resourceId).toBe(local.body.id)
  })

  it('does not create users without autoProvision; updates the role when the directory changes', async () => {
    await createProvider({
      name: 'no-jit',
      settings: ldapSettings(),
      roleMapping: roleMapping(),
      autoProvision: false,
    })
    const res = await login('no-jit', 'ivan', directory.password('ivan'))
    expect([res.status, res.body.code]).toEqual([403, 'account_not_provisioned'])
    await slapd.modify(
      `dn: ${directory.group('pga-operators')}\nchangetype: modify\ndelete: member\nmember: ${directory.person('bob')}\n\n` +
        `dn: ${directory.group('pga-viewers')}\nchangetype: modify\nadd: member\nmember: ${directory.person('bob')}\n`,
    )
    const since = await lastEventId(t)
    expect((await login('corp', 'bob', directory.password('bob'))).body.user?.role).toBe('viewer')
    expect((await events(t, { type: 'user.updated', since }))[0]?.changes.role).toEqual({
      old: 'operator',
      new: 'viewer',
    })
  })

  it('applies the MFA policy: enrollment required by role, a TOTP challenge when enrolled', async () => {
    await http.admin('PUT', '/api/v1/auth/mfa-policy', { rolesRequiringMfa: ['auditor'] })
    const heidi = await login('corp', 'heidi', directory.password('heidi'))
    expect(heidi.body.mfa_enrollment_required).toBe(true)
    const other = await http.as(heidi.body.access_token)('GET', '/api/v1/audit/logs')
    expect([other.status, other.body.code]).toEqual([403, 'mfa_enrollment_required'])
    const enroll = await http.as(heidi.body.access_token)('POST', '/api/v1/auth/mfa/enroll')
    const secret = Buffer.from(decodeBase32IgnorePadding(enroll.body.secret))
    const confirm = await http.as(heidi.body.access_token)('POST', '/api/v1/auth/mfa/confirm', {
      code: totpCode(secret, currentStep()),
    })
    expect(confirm.status).toBe(200)
    const challenge = await login('corp', 'heidi', directory.password('heidi'))
    expect(challenge.body).toMatchObject({ mfa_required: true })
    const since = await lastEventId(t)
    const verified = await http.send('POST', '/api/v1/auth/mfa/verify', {
      mfa_token: challenge.body.mfa_token,
      code: totpCode(secret, currentStep() + 1),
    })
    expect(verified.status).toBe(200)
    const event = (await events(t, { type: 'auth.login', since }))[0]
    expect(event?.changes).toMatchObject({ method: 'ldap+totp', provider: 'corp' })
    await http.admin('PUT', '/api/v1/auth/mfa-policy', { rolesRequiringMfa: [] })
  })
})
