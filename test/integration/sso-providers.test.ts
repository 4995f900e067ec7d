// Identity providers as administrators see them: validation with field paths, secrets write-only
// and encrypted by the keyring (bound to the row, found by rewrap), every change audited without
// secrets, roles on every route, the public list for a login page, disabling and deleting (the
// provider's users disabled and signed out), and providers declared in PGA_IDENTITY_PROVIDERS_FILE
// (JSON or YAML, secrets by reference, read-only through the API, applied without noise).
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { systemAudit } from '../../src/audit/events.ts'
import { ssoContextFrom } from '../../src/auth/sso/context.ts'
import { applyProvidersFile, ProvidersFileError } from '../../src/auth/sso/file-config.ts'
import { tempDir } from '../harness/processes.ts'
import { startSamlIdp } from '../harness/saml-idp.ts'
import { directory, startSlapd, type TestSlapd } from '../harness/slapd.ts'
import { startTestApp, type TestApp } from '../support/app.ts'
import { adminToken, client, events, lastEventId } from '../support/sso.ts'
import { until } from '../support/until.ts'

let t: TestApp
let slapd: TestSlapd
const http = client(() => t)

const ldap = (name: string, extra: Record<string, unknown> = {}) => ({
  type: 'ldap',
  name,
  settings: {
    url: slapd.ldapsUrl,
    caCert: slapd.caPem,
    bindDn: directory.serviceDn,
    bindPassword: directory.servicePassword,
    userBaseDn: directory.peopleDn,
    groupBaseDn: directory.groupsDn,
    groupFilter: '(member={dn})',
    nestedGroups: 'walk',
  },
  roleMapping: [
    { group: directory.group('pga-admins'), role: 'admin' },
    { group: directory.group('pga-operators'), role: 'operator' },
    { group: directory.group('pga-viewers'), role: 'viewer' },
  ],
  strict: true,
  ...extra,
})
const signIn = (provider: string, uid: string) =>
  http.send('POST', `/api/v1/auth/ldap/${provider}/login`, {
    username: uid,
    password: directory.password(uid),
  })

beforeAll(async () => {
  ;[slapd, t] = await Promise.all([
    startSlapd(),
    startTestApp({
      PGA_ADMIN_TOKEN: adminToken,
      PGA_PUBLIC_URL: 'https://pga.example.test',
      PGA_AUTH_RATE_PER_ADDRESS: '10000',
    }),
  ])
})
afterAll(async () => {
  await t?.close()
  await slapd?.stop()
})

describe('administration', () => {
  it('creates a provider with its secret write-only, encrypted and bound to the row, and audits it without the secret', async () => {
    const since = await lastEventId(t)
    const res = await http.admin('POST', '/api/v1/identity-providers', ldap('corp'))
    expect(res.status, res.text).toBe(201)
    expect(res.body.settings).not.toHaveProperty('bindPassword')
    expect(res.body).toMatchObject({
      writeOnlySet: ['bindPassword'],
      managedBy: 'api',
      endpoints: { login: '/api/v1/auth/ldap/corp/login' },
    })
    expect(res.text).not.toContain(directory.servicePassword)
    const [row] = await t.deps.db.sql<{ id: string; secrets_enc: string }[]>`
      select id::text, secrets_enc from auth_identity_providers where name = 'corp'`
    expect(row?.secrets_enc).toMatch(/^pga:v1:\d+:/)
    const field = { table: 'auth_identity_providers', column: 'secrets_enc', rowKey: row?.id as string }
    expect(JSON.parse(await t.deps.keys.keyring().decrypt(row?.secrets_enc as string, field))).toEqual({
      bindPassword: directory.servicePassword,
    })
    // Moved to another row, the ciphertext does not open.
    await expect(
      t.deps.keys.keyring().decrypt(row?.secrets_enc as string, { ...field, rowKey: crypto.randomUUID() }),
    ).rejects.toThrow()
    const trail = await events(t, { since })
    expect(trail.map((e) => e.eventType)).toEqual(['identity_provider.created'])
    expect(JSON.stringify(trail)).not.toContain(directory.servicePassword)
    expect((await signIn('corp', 'alice')).body.user?.role).toBe('admin')
  })

  it('validates settings as a whole, naming the field', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ ...ldap('a'), settings: { url: 'http://x' } }, 'body.settings.url'],
      [{ ...ldap('b'), settings: { ...ldap('b').settings, colour: 'blue' } }, 'body.settings.colour'],
      [
        { ...ldap('c'), settings: { ...ldap('c').settings, bindPassword: undefined } },
        'body.settings.bindPassword',
      ],
      [{ ...ldap('d'), roleMapping: [{ group: 'cn=x', role: 'superuser' }] }, 'body.roleMapping.0.role'],
      [{ ...ldap('Bad Name') }, 'body.name'],
      [{ type: 'saml', name: 'saml-nothing', settings: {} }, 'body.settings.idpEntityId'],
      [
        { type: 'oidc', name: 'okta-nodomain', settings: { preset: 'okta', clientId: 'x' } },
        'body.settings.domain',
      ],
    ]
    for (const [body, path] of cases) {
      const res = await http.admin('POST', '/api/v1/identity-providers', body)
      expect(res.status, JSON.stringify(res.body)).toBe(400)
      expect(
        res.body.errors.map((e: { path: string }) => e.path),
        path,
      ).toContain(path)
    }
    expect((await http.admin('POST', '/api/v1/identity-providers', ldap('corp'))).body.code).toBe(
      'identity_provider_exists',
    )
  })

  it('changes settings by merging; a secret is set by a string, kept when absent, removed by null', async () => {
    const before = (
      await t.deps.db.sql`select secrets_enc from auth_identity_providers where name = 'corp'`
    )[0]
    const renamed = await http.admin('PATCH', '/api/v1/identity-providers/corp', {
      displayName: 'Corporate directory',
      settings: { timeoutMs: 3000 },
    })
    expect(renamed.body).toMatchObject({
      displayName: 'Corporate directory',
      settings: { timeoutMs: 3000, userBaseDn: directory.peopleDn },
    })
    const kept = (await t.deps.db.sql`select secrets_enc from auth_identity_providers where name = 'corp'`)[0]
    expect(kept?.secrets_enc).toBe(before?.secrets_enc)
    const removed = await http.admin('PATCH', '/api/v1/identity-providers/corp', {
      settings: { bindPassword: null },
    })
    expect([removed.status, removed.body.errors?.[0]?.path]).toEqual([400, 'body.settings.bindPassword'])
    const since = await lastEventId(t)
    const changed = await http.admin('PATCH', '/api/v1/identity-providers/corp', {
      settings: { bindPassword: 'a new one' },
    })
    expect(changed.status).toBe(200)
    const [event] = await events(t, { since, type: 'identity_provider.updated' })
    expect(event?.changes).toEqual({ fields: ['settings'], writeOnlyChanged: ['bindPassword'] })
    expect(JSON.stringify(event)).not.toContain('a new one')
    await http.admin('PATCH', '/api/v1/identity-providers/corp', {
      settings: { bindPassword: directory.servicePassword },
    })
    expect((await http.admin('PATCH', '/api/v1/identity-providers/nope', { enabled: false })).status).toBe(
      404,
    )
  })

  it('rewrap moves the secrets to a new data key; sign-in still works', async () => {
    await http.admin('POST', '/api/v1/admin/keys/rotate', { reason: 'sso test' })
    // The rotation starts a rewrap pass in the background; wait for it to reach the provider.
    let value = ''
    await until(
      'the provider’s secrets under data key 2',
      async () => {
        // Busy while the background pass holds the lease: asked again at the next poll.
        await t.deps.keys.rewrap()
        ;[{ value = '' } = {}] = await t.deps.db.sql<{ value: string }[]>`
          select secrets_enc as value from auth_identity_providers where name = 'corp'`
        return value.startsWith('pga:v1:2:')
      },
      { timeoutMs: 60_000, explain: () => value.slice(0, 12) },
    )
    expect(value).toMatch(/^pga:v1:2:/)
    expect((await signIn('corp', 'bob')).body.user?.role).toBe('operator')
  })

  it('declares a permission on every route: auditors read, only admins change', async () => {
    const admin = (await signIn('corp', 'alice')).body.access_token
    await http.as(admin)('POST', '/api/v1/users', {
      email: 'reviewer@example.org',
      role: 'auditor',
      password: 'an auditors passphrase',
    })
    const auditor = (
      await http.send('POST', '/api/v1/auth/login', {
        email: 'reviewer@example.org',
        password: 'an auditors passphrase',
      })
    ).body.access_token
    const viewer = (await signIn('corp', 'carol')).body.access_token
    expect((await http.as(auditor)('GET', '/api/v1/identity-providers')).status).toBe(200)
    expect((await http.as(auditor)('POST', '/api/v1/identity-providers', ldap('x'))).body.code).toBe(
      'permission_denied',
    )
    expect((await http.as(viewer)('GET', '/api/v1/identity-providers/corp')).body.code).toBe(
      'permission_denied',
    )
    expect((await http.as(admin)('GET', '/api/v1/identity-providers/corp')).status).toBe(200)
    expect((await http.send('GET', '/api/v1/identity-providers')).status).toBe(401)
  })

  it('lists enabled providers for a login page; a disabled provider signs nobody in', async () => {
    const idp = await startSamlIdp('listed')
    await http.admin('POST', '/api/v1/identity-providers', {
      type: 'saml',
      name: 'listed-saml',
      displayName: 'Company SSO',
      settings: { idpMetadataXml: idp.metadataXml },
    })
    await http.admin('POST', '/api/v1/identity-providers', { ...ldap('off'), enabled: false })
    const list = await http.send('GET', '/api/v1/auth/providers')
    expect(list.body.items).toEqual(
      expect.arrayContaining([
        {
          name: 'corp',
          type: 'ldap',
          displayName: 'Corporate directory',
          loginUrl: '/api/v1/auth/ldap/corp/login',
        },
        {
          name: 'listed-saml',
          type: 'saml',
          displayName: 'Company SSO',
          loginUrl: '/api/v1/auth/saml/listed-saml/login',
        },
      ]),
    )
    expect(list.body.items.map((p: { name: string }) => p.name)).not.toContain('off')
    expect((await signIn('off', 'bob')).body.code).toBe('identity_provider_not_found')
  })

  it('deleting a provider disables its users and ends their sessions', async () => {
    await http.admin('POST', '/api/v1/identity-providers', ldap('doomed', { strict: false }))
    await slapd.addPerson('doomed1', ['pga-viewers'])
    const session = (await signIn('doomed', 'doomed1')).body
    expect((await http.as(session.access_token)('GET', '/api/v1/auth/me')).status).toBe(200)
    const since = await lastEventId(t)
    expect((await http.admin('DELETE', '/api/v1/identity-providers/doomed')).status).toBe(204)
    expect((await http.as(session.access_token)('GET', '/api/v1/auth/me')).status).toBe(401)
    const trail = await events(t, { since })
    expect(trail.map((e) => e.eventType)).toEqual(['user.disabled', 'identity_provider.deleted'])
    expect(trail[1]?.changes).toEqual({ usersDisabled: 1 })
    expect((await http.admin('GET', '/api/v1/identity-providers/doomed')).body.code).toBe(
      'identity_provider_not_found',
    )
  })
})

describe('PGA_IDENTITY_PROVIDERS_FILE', () => {
  const dir = tempDir('providers-file')
  const ctx = () => ssoContextFrom(t.deps, systemAudit('identity-providers-file'))
  const env = { LDAP_BIND_PASSWORD: 'reader secret with spaces' }
  const yaml = (displayName: string, extra = '') => `
providers:
  - name: gitops-ldap
    type: ldap
    displayName: ${displayName}
    settings:
      url: ${slapd.ldapsUrl}
      caCert: |
${slapd.caPem
  .trim()
  .split('\n')
  .map((line) => `        ${line}`)
  .join('\n')}
      bindDn: ${directory.serviceDn}
      bindPassword: { env: LDAP_BIND_PASSWORD }
      userBaseDn: ${directory.peopleDn}
      groupBaseDn: ${directory.groupsDn}
      groupFilter: (member={dn})
      nestedGroups: walk
    roleMapping:
      - { group: "${directory.group('pga-operators')}", role: operator }
    strict: true
${extra}`
  const apply = (text: string, name = 'providers.yaml') => {
    const path = join(dir, name)
    writeFileSync(path, text)
    return applyProvidersFile(ctx(), path, env, t.logs.log)
  }

  it('creates declared providers (secrets by reference), leaves them alone when unchanged, applies changes', async () => {
    expect(await apply(yaml('GitOps directory'))).toEqual({
      created: ['gitops-ldap'],
      updated: [],
      removed: [],
    })
    expect((await signIn('gitops-ldap', 'oscar')).body.user?.role).toBe('operator')
    const since = await lastEventId(t)
    expect(await apply(yaml('GitOps directory'))).toEqual({ created: [], updated: [], removed: [] })
    expect(await events(t, { since })).toEqual([])
    expect(await apply(yaml('Renamed in Git'))).toEqual({
      created: [],
      updated: ['gitops-ldap'],
      removed: [],
    })
    const shown = await http.admin('GET', '/api/v1/identity-providers/gitops-ldap')
    expect(shown.body).toMatchObject({
      displayName: 'Renamed in Git',
      managedBy: 'file',
      writeOnlySet: ['bindPassword'],
    })
    const [event] = await events(t, { since, type: 'identity_provider.updated' })
    expect(event).toMatchObject({ actorType: 'system', actorId: 'identity-providers-file' })
  })

  it('is read-only through the API; removing a provider from the file removes it', async () => {
    const patch = await http.admin('PATCH', '/api/v1/identity-providers/gitops-ldap', { enabled: false })
    expect([patch.status, patch.body.code]).toEqual([409, 'identity_provider_managed_by_file'])
    expect((await http.admin('DELETE', '/api/v1/identity-providers/gitops-ldap')).status).toBe(409)
    expect(await apply('providers: []\n')).toEqual({ created: [], updated: [], removed: ['gitops-ldap'] })
  })

  it('takes JSON too, and refuses inline secrets, missing references and bad entries with the place named', async () => {
    const json = JSON.stringify({
      providers: [
        {
          ...ldap('json-ldap'),
          settings: { ...ldap('x').settings, bindPassword: { env: 'LDAP_BIND_PASSWORD' } },
        },
      ],
    })
    expect((await apply(json, 'providers.json')).created).toEqual(['json-ldap'])
    const failures: [string, RegExp][] = [
      [
        yaml('x').replace('{ env: LDAP_BIND_PASSWORD }', 'plain-text-secret'),
        /providers\[0\]\.settings\.bindPassword: a secret is given as/,
      ],
      [yaml('x').replace('LDAP_BIND_PASSWORD', 'UNSET_VARIABLE'), /UNSET_VARIABLE is not set/],
      [
        yaml('x').replace('{ env: LDAP_BIND_PASSWORD }', '{ file: /nonexistent/secret }'),
        /cannot read \/nonexistent\/secret/,
      ],
      [yaml('x').replace('strict: true', 'strict: sometimes'), /providers\[0\]\.strict/],
      ['nothing: here', /expected \{"providers"/],
    ]
    for (const [text, message] of failures) {
      const error = await apply(text).catch((e) => e)
      expect(error).toBeInstanceOf(ProvidersFileError)
      expect(error.message).toMatch(message)
    }
  })
})
