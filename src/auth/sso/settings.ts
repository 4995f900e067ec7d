// The settings of each provider type, as data: one zod schema per type (LDAP / Active Directory,
// SAML 2.0, OAuth 2.0 / OIDC), their role-mapping rules, and which fields are secrets (write-only,
// encrypted by the keyring, never returned). Names follow the issue so configurations read alike
// in the API, the providers file and the docs.
import { z } from '@hono/zod-openapi'
import { absentMeans } from '../../http/schema-shapes.ts'
import { roles } from '../permissions.ts'

const secret = (description: string) =>
  z
    .string()
    .min(1)
    .max(65_536)
    .optional()
    .openapi({ description: `${description} Write-only.`, format: 'password' })
const pemCertificates = z
  .string()
  .max(262_144)
  .regex(/-----BEGIN CERTIFICATE-----/, 'PEM certificates')
  // The document also states the NUL rule every input follows (createRouter), in the pattern.
  .openapi({ pattern: '^[^\\x00]*-----BEGIN CERTIFICATE-----[^\\x00]*$' })
const dn = z.string().min(3).max(1024)
const role = z.enum(roles)

// LDAP / Active Directory --------------------------------------------------------------------

export const LdapSettingsSchema = z
  .object({
    url: z
      .string()
      .regex(/^ldaps?:\/\/[^\s/?#]+\/?$/, 'ldap://host[:port] or ldaps://host[:port]')
      .openapi({
        pattern: '^ldaps?:\\/\\/[^\\s/?#\\x00]+\\/?$',
        example: 'ldaps://dc1.corp.example.com:636',
      }),
    startTls: z.boolean().default(false).openapi({ description: 'Upgrade ldap:// with StartTLS first.' }),
    caCert: pemCertificates.optional().openapi({ description: 'CA bundle (PEM) that signed the server.' }),
    tlsVerify: z
      .boolean()
      .default(true)
      .openapi({ description: 'Verify the server certificate and name (turning it off is for labs only).' }),
    allowPlaintext: z
      .boolean()
      .default(false)
      .openapi({ description: 'Allow ldap:// without StartTLS: passwords cross the network in clear.' }),
    bindDn: dn
      .optional()
      .openapi({ description: 'Service account that searches; unset: search anonymously.' }),
    bindPassword: secret('Password of bindDn.'),
    userDnTemplate: z.string().min(3).max(1024).includes('{username}').optional().openapi({
      description:
        'Direct bind without a service account: the bind name with {username} (escaped), e.g. uid={username},ou=people,dc=example,dc=org or {username}@corp.example.com.',
    }),
    userBaseDn: dn.openapi({ example: 'ou=people,dc=example,dc=org' }),
    userFilter: z.string().min(3).max(2048).includes('{username}').default('(uid={username})').openapi({
      description:
        'Search filter with {username}, escaped per RFC 4515; AD: (&(objectClass=user)(sAMAccountName={username})).',
    }),
    groupBaseDn: dn.optional(),
    groupFilter: z
      .string()
      .min(3)
      .max(2048)
      .default('(|(member={dn})(uniqueMember={dn}))')
      .openapi({ description: 'Groups of a member: {dn} is the member’s DN, {username} the name typed.' }),
    memberOfAttribute: z.string().max(64).nullable().default('memberOf').openapi({
      description: 'Attribute of the user entry listing its groups (AD, OpenLDAP memberof); null: none.',
    }),
    nestedGroups: absentMeans(
      z.union([z.literal(false), z.enum(['in-chain', 'walk'])]).openapi('LdapNestedGroups', {
        description:
          'Groups of groups: false (off, also when absent), in-chain (Active Directory LDAP_MATCHING_RULE_IN_CHAIN, one query) or walk (any server, one query per level, at most 10).',
      }),
      false,
    ),
    uniqueIdAttribute: z.string().max(64).default('entryUUID').openapi({
      description: 'Stable id of a user: entryUUID (OpenLDAP), objectGUID (AD). Missing: the DN.',
    }),
    usernameAttribute: z.string().max(64).default('uid').openapi({ description: 'AD: sAMAccountName.' }),
    emailAttribute: z.string().max(64).default('mail'),
    displayNameAttribute: z.string().max(64).default('displayName'),
    emailsVerified: z.boolean().default(false).openapi({
      description: 'The directory’s email values are managed, so they may link existing accounts.',
    }),
    timeoutMs: z.number().int().min(100).max(60_000).optional(),
  })
  .strict()
  .openapi('LdapSettings')
export type LdapSettings = z.output<typeof LdapSettingsSchema>

export const LdapRuleSchema = z
  .object({ group: dn.openapi({ example: 'cn=pga-admins,ou=groups,dc=example,dc=org' }), role })
  .strict()
  .openapi('LdapRoleRule')

export const LdapSyncSchema = z
  .object({
    enabled: z.boolean().default(false),
    intervalMinutes: z.number().int().min(5).max(10_080).default(60),
    minReturnedPercent: z.number().int().min(1).max(100).default(90).openapi({
      description:
        'A sync that finds fewer of the known users than this changes nothing and reports instead (a wrong filter or a partial answer must not disable everyone).',
    }),
  })
  .strict()
  .openapi('LdapSync')

// SAML 2.0 -----------------------------------------------------------------------------------

export const defaultMfaContextClasses = [
  'http://schemas.microsoft.com/claims/multipleauthn',
  'urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract',
  'https://refeds.org/profile/mfa',
]

export const SamlSettingsSchema = z
  .object({
    idpMetadataXml: z.string().max(1_048_576).optional().openapi({
      description: 'The IdP’s metadata XML; entity id, SSO URL and certificates are read from it.',
    }),
    idpMetadataUrl: z.url().optional().openapi({
      description: 'Fetched once, when the provider is created or updated with it (never otherwise).',
    }),
    idpEntityId: z.string().min(1).max(1024).optional(),
    idpSsoUrl: z.url().optional(),
    idpCertificates: z.array(pemCertificates).max(5).optional().openapi({
      description: 'Certificates whose keys may sign responses (two during an IdP key rollover).',
    }),
    spEntityId: z.string().min(1).max(1024).optional(),
    signAuthnRequests: z.boolean().default(false),
    spPrivateKey: secret('PEM private key that signs AuthnRequests.'),
    spCertificate: pemCertificates.optional().openapi({ description: 'Published in the SP metadata.' }),
    requireSigned: z
      .enum(['assertion', 'response', 'both', 'either'])
      .default('assertion')
      .openapi({ description: 'Which signature a response must carry (verified with idpCertificates).' }),
    allowIdpInitiated: z.boolean().default(false).openapi({
      description: 'Accept unsolicited responses (no AuthnRequest of ours): open to login CSRF.',
    }),
    nameIdFormat: z.string().max(256).default('urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified'),
    attributes: absentMeans(
      z
        .object({
          email: z.string().max(256).default('email'),
          displayName: z.string().max(256).default('displayName'),
          groups: z.string().max(256).default('groups'),
        })
        .strict(),
      {},
    ).openapi({ description: 'Names of the attributes carrying email, display name and groups.' }),
    emailsVerified: z
      .boolean()
      .default(false)
      .openapi({ description: 'The IdP vouches for email addresses, so they may link existing accounts.' }),
    mfaContextClasses: z.array(z.string().max(256)).max(20).default(defaultMfaContextClasses).openapi({
      description: 'AuthnContextClassRef values that mean MFA was done (with trustProviderMfa).',
    }),
  })
  .strict()
  .openapi('SamlSettings')
export type SamlSettings = z.output<typeof SamlSettingsSchema>

export const SamlRuleSchema = z
  .object({ attribute: z.string().min(1).max(256), value: z.string().min(1).max(1024), role })
  .strict()
  .openapi('SamlRoleRule')

// OAuth 2.0 / OpenID Connect ---------------------------------------------------------------

export const oidcPresetNames = ['generic', 'google', 'entra', 'okta', 'keycloak', 'github'] as const

export const OidcSettingsSchema = z
  .object({
    preset: z.enum(oidcPresetNames).default('generic').openapi({
      description:
        'generic (issuer), google, entra (tenant), okta (domain, authorizationServer), keycloak (baseUrl, realm): OIDC with discovery; github: OAuth 2.0 with the GitHub API (apiBaseUrl, webBaseUrl).',
    }),
    issuer: z.url().optional(),
    tenant: z.string().max(128).optional(),
    domain: z.string().max(253).optional(),
    authorizationServer: z.string().max(128).optional(),
    baseUrl: z.url().optional(),
    realm: z.string().max(128).optional(),
    apiBaseUrl: z.url().optional(),
    webBaseUrl: z.url().optional(),
    clientId: z.string().min(1).max(512),
    clientSecret: secret('OAuth client secret (omit for a public client: PKCE alone).'),
    scopes: z.array(z.string().min(1).max(128)).max(20).optional(),
    claims: z
      .object({
        email: z.string().max(128).default('email'),
        name: z.string().max(128).default('name'),
        username: z.string().max(128).default('preferred_username'),
        groups: z.string().max(128).default('groups'),
      })
      .strict()
      .optional(),
    allowedAlgorithms: z
      .array(
        z.enum(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']),
      )
      .min(1)
      .default(['RS256', 'PS256', 'ES256', 'EdDSA']),
    hostedDomain: z
      .string()
      .max(253)
      .optional()
      .openapi({ description: 'Google: the hd claim must equal it.' }),
    allowedOrganizations: z
      .array(z.string().max(100))
      .max(50)
      .optional()
      .openapi({ description: 'GitHub: only members of these organizations may sign in.' }),
    mfaValues: z
      .array(z.string().max(128))
      .max(20)
      .default(['mfa', 'otp', 'hwk', 'swk', 'fido', 'sms'])
      .openapi({ description: 'amr (or acr) values that mean MFA was done (with trustProviderMfa).' }),
    useUserinfo: z
      .boolean()
      .default(false)
      .openapi({ description: 'Also read claims from the userinfo endpoint.' }),
    emailsVerified: z
      .boolean()
      .default(false)
      .openapi({ description: 'Trust emails without email_verified (never needed when the claim is sent).' }),
  })
  .strict()
  .openapi('OidcSettings')
export type OidcSettings = z.output<typeof OidcSettingsSchema>

export const OidcRuleSchema = z
  .object({
    claim: z.string().min(1).max(128).openapi({ example: 'groups' }),
    value: z.string().min(1).max(1024).openapi({ example: 'pga-admins' }),
    role,
  })
  .strict()
  .openapi('OidcRoleRule')

/** The write-only fields of each type. */
export const secretFields = {
  ldap: ['bindPassword'],
  saml: ['spPrivateKey'],
  oidc: ['clientSecret'],
} as const
