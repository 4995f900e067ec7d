// Enterprise sign-in in the compiled binary, copied alone into an empty directory: providers
// declared in PGA_IDENTITY_PROVIDERS_FILE are applied at start; LDAP sign-in (ldapts, TLS)
// against a real slapd; a SAML sign-in whose XML Schema validation runs on the embedded xmllint
// WASM and schemas (a schema-invalid response is refused, so the validator really validates).
import { writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { createTestDatabase } from '../harness/postgres.ts'
import { authnRequestOf, type SamlIdp, startSamlIdp, tamper } from '../harness/saml-idp.ts'
import { directory, startSlapd, type TestSlapd } from '../harness/slapd.ts'
import { testMasterKey } from '../support/master-key.ts'
import { binaryInEmptyDir, type ServiceProcess, startService } from '../support/service-process.ts'

const publicUrl = 'https://pga.binary.test'
let slapd: TestSlapd
let idp: SamlIdp
let service: ServiceProcess

/** Requests as a browser: cookies kept, redirects not followed. */
function browser() {
  const jar = new Map<string, string>()
  return async (method: string, path: string, body?: { form?: Record<string, string>; json?: unknown }) => {
    const response = await fetch(`${service.url}${path}`, {
      method,
      redirect: 'manual',
      headers: {
        ...(body?.form ? { 'Content-Type': 'application/x-www-form-urlencoded' } : {}),
        ...(body?.json ? { 'Content-Type': 'application/json' } : {}),
        ...(jar.size ? { Cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') } : {}),
      },
      ...(body?.form ? { body: new URLSearchParams(body.form).toString() } : {}),
      ...(body?.json ? { body: JSON.stringify(body.json) } : {}),
    })
    for (const cookie of response.headers.getSetCookie()) {
      const [name, ...value] = (cookie.split(';')[0] as string).split('=')
      jar.set(name as string, value.join('='))
    }
    const text = await response.text()
    return { status: response.status, location: response.headers.get('location') ?? '', text }
  }
}

beforeAll(async () => {
  const [binary, directoryServer, samlIdp, databaseUrl] = await Promise.all([
    binaryInEmptyDir('sso-binary'),
    startSlapd(),
    startSamlIdp('binary-idp'),
    createTestDatabase(inject('pgUrl')),
  ])
  ;[slapd, idp] = [directoryServer, samlIdp]
  const file = join(dirname(binary), 'identity-providers.json')
  writeFileSync(
    file,
    JSON.stringify({
      providers: [
        {
          name: 'corp',
          type: 'ldap',
          settings: {
            url: slapd.ldapsUrl,
            caCert: slapd.caPem,
            bindDn: directory.serviceDn,
            bindPassword: { env: 'LDAP_BIND_PASSWORD' },
            userBaseDn: directory.peopleDn,
            groupBaseDn: directory.groupsDn,
            groupFilter: '(member={dn})',
            nestedGroups: 'walk',
          },
          roleMapping: [{ group: directory.group('pga-admins'), role: 'admin' }],
          strict: true,
        },
        { name: 'company', type: 'saml', settings: { idpMetadataXml: idp.metadataXml } },
      ],
    }),
  )
  service = await startService({
    command: binary,
    cwd: dirname(binary),
    timeoutMs: 60_000,
    env: {
      DATABASE_URL: databaseUrl,
      REDIS_URL: inject('redisUrl'),
      PGA_REDIS_KEY_PREFIX: 'sso-bin:',
      PGA_MASTER_KEY: testMasterKey,
      PGA_PUBLIC_URL: publicUrl,
      PGA_IDENTITY_PROVIDERS_FILE: file,
      LDAP_BIND_PASSWORD: directory.servicePassword,
    },
  })
}, 240_000)
afterAll(async () => {
  await service?.stop()
  await slapd?.stop()
})

describe('pganalytics binary: enterprise sign-in', () => {
  it('applies the providers file at start', async () => {
    expect(service.lines.join('\n')).toMatch(
      /identity providers file applied.*"created":\["corp","company"\]/,
    )
    const list = await (await fetch(`${service.url}/api/v1/auth/providers`)).json()
    expect(list.items.map((p: { name: string }) => p.name).sort()).toEqual(['company', 'corp'])
  })

  it('signs in through the directory (ldaps, nested groups)', async () => {
    const send = browser()
    const res = await send('POST', '/api/v1/auth/ldap/corp/login', {
      json: { username: 'alice', password: directory.password('alice') },
    })
    expect(res.status, res.text).toBe(200)
    expect(JSON.parse(res.text).user).toMatchObject({ role: 'admin', source: 'ldap' })
  })

  it('signs in with SAML, the schema validator running on the embedded WASM, and refuses a schema-invalid response', async () => {
    const respond = async (send: ReturnType<typeof browser>) => {
      const start = await send('GET', '/api/v1/auth/saml/company/login')
      expect(start.status).toBe(302)
      return idp.respond({
        acsUrl: `${publicUrl}/api/v1/auth/saml/company/acs`,
        audience: `${publicUrl}/api/v1/auth/saml/company/metadata`,
        nameId: 'binary-user',
        inResponseTo: authnRequestOf(start.location).id,
        attributes: { email: ['binary@saml.test'] },
      })
    }
    const send = browser()
    const acs = await send('POST', '/api/v1/auth/saml/company/acs', {
      form: { SAMLResponse: await respond(send) },
    })
    expect(acs.status, acs.text).toBe(303)
    const code = /#sso_code=(.+)$/.exec(acs.location)?.[1] as string
    const tokens = await send('POST', '/api/v1/auth/exchange', { json: { code } })
    expect(tokens.status, tokens.text).toBe(200)
    expect(JSON.parse(tokens.text).user).toMatchObject({ email: 'binary@saml.test', source: 'saml' })
    const other = browser()
    const invalid = tamper(await respond(other), (doc) => doc.documentElement.removeAttribute('IssueInstant'))
    const refused = await other('POST', '/api/v1/auth/saml/company/acs', { form: { SAMLResponse: invalid } })
    expect(refused.status).toBe(401)
    expect(JSON.parse(refused.text).detail).toMatch(/IssueInstant/)
  })
})
