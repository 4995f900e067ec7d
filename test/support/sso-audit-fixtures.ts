// The SSO operations' fixtures for the audit-coverage walk (test/integration/audit-api.test.ts):
// each runs one mutating identity-provider or sign-in operation for real (a slapd and a samlify
// IdP the walk starts) and names the event it must leave.
import { authnRequestOf, type SamlIdp } from '../harness/saml-idp.ts'
import { directory, type TestSlapd } from '../harness/slapd.ts'
import type { TestApp } from './app.ts'
import { browser } from './sso.ts'

type Fixture = { run: () => Promise<{ status: number; body: unknown }>; event: string }
type Call = (method: string, path: string, body?: unknown) => Promise<{ status: number; body: unknown }>

export const ssoPublicUrl = 'https://pga.audit.test'

/** The fixtures, in the order the walk runs them (create first, delete last). */
export function ssoFixtures(
  t: () => TestApp,
  call: Call,
  peer: string,
  env: () => { slapd: TestSlapd; idp: SamlIdp },
): Record<string, Fixture> {
  const b = browser(t, peer)
  let code = ''
  const ldapProvider = () => ({
    type: 'ldap',
    name: 'audit-ldap',
    settings: {
      url: env().slapd.ldapsUrl,
      caCert: env().slapd.caPem,
      bindDn: directory.serviceDn,
      bindPassword: directory.servicePassword,
      userBaseDn: directory.peopleDn,
      groupBaseDn: directory.groupsDn,
      groupFilter: '(member={dn})',
      nestedGroups: 'walk',
    },
    roleMapping: [{ group: directory.group('pga-admins'), role: 'admin' }],
  })
  return {
    'POST /api/v1/identity-providers': {
      run: async () => {
        const { idp } = env()
        const saml = await call('POST', '/api/v1/identity-providers', {
          type: 'saml',
          name: 'audit-saml',
          settings: { idpMetadataXml: idp.metadataXml },
        })
        if (saml.status !== 201) return saml
        return call('POST', '/api/v1/identity-providers', ldapProvider())
      },
      event: 'identity_provider.created',
    },
    'PATCH /api/v1/identity-providers/{name}': {
      run: () => call('PATCH', '/api/v1/identity-providers/audit-ldap', { displayName: 'Audited directory' }),
      event: 'identity_provider.updated',
    },
    'POST /api/v1/identity-providers/{name}/test': {
      run: () => call('POST', '/api/v1/identity-providers/audit-ldap/test', {}),
      event: 'identity_provider.tested',
    },
    'POST /api/v1/identity-providers/{name}/sync': {
      run: () => call('POST', '/api/v1/identity-providers/audit-ldap/sync'),
      event: 'identity_provider.synced',
    },
    'POST /api/v1/auth/ldap/{name}/login': {
      run: () =>
        call('POST', '/api/v1/auth/ldap/audit-ldap/login', {
          username: 'alice',
          password: directory.password('alice'),
        }),
      event: 'auth.login',
    },
    'POST /api/v1/auth/saml/{name}/acs': {
      run: async () => {
        const start = await b.get('/api/v1/auth/saml/audit-saml/login')
        const request = authnRequestOf(start.headers.get('location') ?? '')
        const response = await env().idp.respond({
          acsUrl: `${ssoPublicUrl}/api/v1/auth/saml/audit-saml/acs`,
          audience: `${ssoPublicUrl}/api/v1/auth/saml/audit-saml/metadata`,
          nameId: 'audited-saml-user',
          inResponseTo: request.id,
          attributes: { email: ['audited@saml.test'] },
        })
        const res = await b.send('POST', '/api/v1/auth/saml/audit-saml/acs', {
          form: { SAMLResponse: response },
        })
        code = b.codeOf(res)
        return res
      },
      event: 'auth.login',
    },
    'POST /api/v1/auth/exchange': {
      run: () => b.exchange(code),
      event: 'auth.sso_code_exchanged',
    },
    'DELETE /api/v1/identity-providers/{name}': {
      run: () => call('DELETE', '/api/v1/identity-providers/audit-ldap'),
      event: 'identity_provider.deleted',
    },
  }
}
