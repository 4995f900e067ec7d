// The pure pieces of enterprise sign-in: LDAP escaping (RFC 4515 filters, RFC 4514 DNs),
// objectGUID formatting, DN comparison, role mapping order and strictness, return paths (no open
// redirect), which URLs may reach an identity provider, OIDC preset issuers, the configuration
// section, and the SAML schema validator on its own.
import { describe, expect, it } from 'vitest'
import { isSafeRelativePath } from '../../src/auth/sso/config.ts'
import { safeReturnPath } from '../../src/auth/sso/handshakes.ts'
import { requireSecureUrl } from '../../src/auth/sso/http-fetch.ts'
import {
  escapeDnValue,
  escapeFilterValue,
  fillFilter,
  formatGuid,
  groupSearchFilter,
} from '../../src/auth/sso/ldap-client.ts'
import { effectiveOidc } from '../../src/auth/sso/oidc-presets.ts'
import { mapRole, normalizeDn } from '../../src/auth/sso/role-mapping.ts'
import { OidcSettingsSchema } from '../../src/auth/sso/settings.ts'
import type { ExternalIdentity } from '../../src/auth/sso/types.ts'
import { createSamlSchemaValidator } from '../../src/auth/sso/xml-schema.ts'
import { ConfigError, loadConfig } from '../../src/config.ts'
import { nodeRuntime } from '../../src/runtime/node.ts'

const identity = (over: Partial<ExternalIdentity>): ExternalIdentity => ({
  externalId: 'x',
  emailVerified: false,
  groups: [],
  claims: {},
  mfaAsserted: false,
  ...over,
})

describe('LDAP escaping', () => {
  it('escapes filter values so that wildcards, parentheses, backslashes and NUL match themselves', () => {
    expect(escapeFilterValue('*')).toBe('\\2a')
    expect(escapeFilterValue('alice)(uid=*')).toBe('alice\\29\\28uid=\\2a')
    expect(escapeFilterValue('a\\b')).toBe('a\\5cb')
    expect(escapeFilterValue('a\u0000b')).toBe('a\\00b')
    expect(escapeFilterValue('jörg')).toBe('jörg')
    expect(fillFilter('(&(uid={username})(member={dn}))', { username: 'a*', dn: 'cn=x(y)' })).toBe(
      '(&(uid=a\\2a)(member=cn=x\\28y\\29))',
    )
  })
  it('escapes DN values (RFC 4514)', () => {
    expect(escapeDnValue('smith, john')).toBe('smith\\, john')
    expect(escapeDnValue('a+b=c;d<e>"f"\\')).toBe('a\\+b\\=c\\;d\\<e\\>\\"f\\"\\\\')
    expect(escapeDnValue(' #lead')).toBe('\\ #lead')
    expect(escapeDnValue('#lead')).toBe('\\#lead')
    expect(escapeDnValue('trail ')).toBe('trail\\ ')
  })
  it('asks Active Directory for nested groups with LDAP_MATCHING_RULE_IN_CHAIN, the DN escaped', () => {
    const dn = 'CN=Smith\\, John (ops),OU=Staff,DC=corp'
    expect(groupSearchFilter({ nestedGroups: 'in-chain', groupFilter: '(member={dn})' }, dn, 'jsmith')).toBe(
      '(member:1.2.840.113556.1.4.1941:=CN=Smith\\5c, John \\28ops\\29,OU=Staff,DC=corp)',
    )
    expect(groupSearchFilter({ nestedGroups: 'walk', groupFilter: '(memberUid={username})' }, dn, 'j*')).toBe(
      '(memberUid=j\\2a)',
    )
  })
  it('formats objectGUID as AD prints it (first three fields little-endian)', () => {
    expect(formatGuid(Buffer.from('0f1e2d3c4b5a69788796a5b4c3d2e101', 'hex'))).toBe(
      '3c2d1e0f-5a4b-7869-8796-a5b4c3d2e101',
    )
  })
})

describe('role mapping', () => {
  const provider = {
    roleMapping: [
      { group: 'CN=PGA Admins, OU=Groups,DC=corp', role: 'admin' as const },
      { group: 'cn=pga-ops,ou=groups,dc=corp', role: 'operator' as const },
      { claim: 'groups', value: 'auditors', role: 'auditor' as const },
    ],
    strict: true,
    defaultRole: 'viewer' as const,
  }
  it('compares DNs as directories do and takes the first matching rule', () => {
    expect(normalizeDn('CN=PGA Admins, OU=Groups,DC=corp')).toBe('cn=pga admins,ou=groups,dc=corp')
    expect(
      mapRole(
        provider,
        identity({ groups: ['cn=pga-ops,ou=groups,dc=corp', 'cn=pga admins,ou=groups,dc=corp'] }),
      ),
    ).toEqual({ role: 'admin', rule: 0 })
    expect(mapRole(provider, identity({ claims: { groups: ['auditors'] } }))).toEqual({
      role: 'auditor',
      rule: 2,
    })
  })
  it('gives no role under strict mapping, the default role otherwise', () => {
    expect(mapRole(provider, identity({ groups: ['cn=other'] }))).toEqual({ role: null, rule: null })
    expect(mapRole({ ...provider, strict: false }, identity({}))).toEqual({ role: 'viewer', rule: null })
  })
})

describe('where a sign-in may send the browser', () => {
  it('accepts relative paths under the allowed prefixes only', () => {
    const allowed = ['/app/', '/docs']
    expect(safeReturnPath('/app/x?y=1', allowed)).toBe('/app/x?y=1')
    for (const bad of [
      'https://evil.example/',
      '//evil.example',
      '/\\evil.example',
      '/app/\nx',
      'app/',
      '/other',
      '/app/#f',
    ])
      expect(safeReturnPath(bad, allowed), JSON.stringify(bad)).toBe('/app/')
    expect(safeReturnPath(undefined, allowed)).toBe('/app/')
    expect(isSafeRelativePath('/\t')).toBe(false)
  })
  it('lets only https (or http to a loopback address) reach an identity provider', () => {
    expect(requireSecureUrl('https://login.example.com')).toBeNull()
    expect(requireSecureUrl('http://127.0.0.1:8080/x')).toBeNull()
    expect(requireSecureUrl('http://localhost/x')).toBeNull()
    expect(requireSecureUrl('http://[::1]:99/x')).toBeNull()
    expect(requireSecureUrl('http://login.example.com')).toMatch(/https/)
    expect(requireSecureUrl('http://127.0.0.1.evil.example')).toMatch(/https/)
    expect(requireSecureUrl('file:///etc/passwd')).toMatch(/https/)
  })
})

describe('OIDC presets', () => {
  const issuerOf = (settings: Record<string, unknown>) =>
    effectiveOidc(OidcSettingsSchema.parse({ clientId: 'x', ...settings })).issuer
  it('derive the issuer each provider publishes', () => {
    expect(issuerOf({ preset: 'google' })).toBe('https://accounts.google.com')
    expect(issuerOf({ preset: 'entra', tenant: 'contoso.onmicrosoft.com' })).toBe(
      'https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0',
    )
    expect(issuerOf({ preset: 'okta', domain: 'acme.okta.com' })).toBe('https://acme.okta.com/oauth2/default')
    expect(issuerOf({ preset: 'okta', domain: 'acme.okta.com', authorizationServer: 'aus1' })).toBe(
      'https://acme.okta.com/oauth2/aus1',
    )
    expect(issuerOf({ preset: 'keycloak', baseUrl: 'https://kc.example.com/', realm: 'ops' })).toBe(
      'https://kc.example.com/realms/ops',
    )
    expect(issuerOf({ preset: 'github' })).toBeNull()
    expect(effectiveOidc(OidcSettingsSchema.parse({ clientId: 'x', preset: 'github' })).apiBaseUrl).toBe(
      'https://api.github.com',
    )
  })
})

describe('configuration', () => {
  it('parses the SSO section and refuses return paths that are not relative', () => {
    const config = loadConfig({
      PGA_PUBLIC_URL: 'https://pga.example.com/',
      PGA_SSO_RETURN_PATHS: '/app/,/docs',
    })
    expect(config.sso).toMatchObject({
      publicUrl: 'https://pga.example.com',
      returnPaths: ['/app/', '/docs'],
      clockSkewMs: 60_000,
      syncEnabled: true,
    })
    expect(() => loadConfig({ PGA_SSO_RETURN_PATHS: 'https://evil.example' })).toThrow(ConfigError)
    expect(() => loadConfig({ PGA_SSO_RETURN_PATHS: '//evil.example' })).toThrow(/PGA_SSO_RETURN_PATHS/)
  })
})

describe('SAML schema validator', () => {
  it('validates against the SAML 2.0 schemas in-process', async () => {
    const validator = createSamlSchemaValidator(nodeRuntime.assets.samlSchemaFile)
    const request = (attributes: string) =>
      `<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_1" Version="2.0"${attributes}/>`
    expect(await validator.validate(request(' IssueInstant="2026-01-01T00:00:00Z"'))).toBe('valid')
    await expect(validator.validate(request(''))).rejects.toThrow(/IssueInstant/)
    await expect(validator.validate('<not-saml/>')).rejects.toThrow()
    expect(process.exitCode ?? 0).toBe(0)
  })
})
