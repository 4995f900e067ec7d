// Schemas of the identity-provider and SSO sign-in API. Provider input is one shape per type
// (discriminated by `type`); secrets inside `settings` are write-only.
import { z } from '@hono/zod-openapi'
import { absentMeans, orNull } from '../../http/schema-shapes.ts'
import { roles } from '../permissions.ts'
import {
  LdapRuleSchema,
  LdapSettingsSchema,
  LdapSyncSchema,
  OidcRuleSchema,
  OidcSettingsSchema,
  SamlRuleSchema,
  SamlSettingsSchema,
} from './settings.ts'

export const providerName = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9-]{0,62}$/,
    'lower-case letters, digits and "-", up to 63, starting with a letter or digit',
  )
  .openapi({ example: 'corp-ad' })
export const ProviderNameParams = z.object({
  name: providerName.openapi({ param: { name: 'name', in: 'path' } }),
})

const LinkingSchema = z
  .object({
    byVerifiedEmail: z.boolean().default(false),
    domains: z.array(z.string().min(1).max(253)).max(50).default([]),
  })
  .strict()
  .openapi('AccountLinking', {
    description:
      'When an account with the same email exists: link it only if byVerifiedEmail is on, the provider verified the email and its domain is listed. Otherwise the sign-in is refused (409 account_exists).',
  })

const common = {
  name: providerName,
  displayName: z
    .string()
    .min(1)
    .max(100)
    .optional()
    .openapi({ description: 'Shown on a login page; default: name.' }),
  enabled: z.boolean().default(true),
  strict: z
    .boolean()
    .default(false)
    .openapi({ description: 'A user no rule matches cannot sign in (otherwise: defaultRole).' }),
  defaultRole: z.enum(roles).default('viewer'),
  autoProvision: z.boolean().default(true).openapi({ description: 'Create users at their first sign-in.' }),
  linking: absentMeans(LinkingSchema, {}),
  trustProviderMfa: z.boolean().default(false).openapi({
    description:
      'Skip this service’s own MFA when the provider asserts MFA (SAML AuthnContextClassRef, OIDC amr).',
  }),
}

export const CreateIdentityProviderSchema = z
  .discriminatedUnion('type', [
    z
      .object({
        ...common,
        type: z.literal('ldap'),
        settings: LdapSettingsSchema,
        roleMapping: z.array(LdapRuleSchema).max(100).default([]),
        sync: absentMeans(LdapSyncSchema, {}),
      })
      .strict()
      .openapi('CreateLdapProvider'),
    z
      .object({
        ...common,
        type: z.literal('saml'),
        settings: SamlSettingsSchema,
        roleMapping: z.array(SamlRuleSchema).max(100).default([]),
      })
      .strict()
      .openapi('CreateSamlProvider'),
    z
      .object({
        ...common,
        type: z.literal('oidc'),
        settings: OidcSettingsSchema,
        roleMapping: z.array(OidcRuleSchema).max(100).default([]),
      })
      .strict()
      .openapi('CreateOidcProvider'),
  ])
  .openapi('CreateIdentityProvider')
export type CreateIdentityProvider = z.output<typeof CreateIdentityProviderSchema>

export const UpdateIdentityProviderSchema = z
  .object({
    displayName: z.string().min(1).max(100).optional(),
    enabled: z.boolean().optional(),
    // Open maps here: the service validates them, merged, against the provider type's closed
    // schemas (settings.ts), so an unknown key is still a 400 naming body.settings.<key>.
    settings: z.record(z.string(), z.unknown()).optional().openapi({
      description:
        'Settings to change, merged over the current ones and validated as a whole; a secret: a string sets it, null removes it, absent keeps it.',
    }),
    roleMapping: z.array(z.record(z.string(), z.unknown())).max(100).optional().openapi({
      description: 'Replaces the rules (the shape of the provider’s type).',
    }),
    strict: z.boolean().optional(),
    defaultRole: z.enum(roles).optional(),
    autoProvision: z.boolean().optional(),
    linking: LinkingSchema.optional(),
    trustProviderMfa: z.boolean().optional(),
    sync: LdapSyncSchema.optional(),
  })
  .strict()
  .openapi('UpdateIdentityProvider')
export type UpdateIdentityProvider = z.output<typeof UpdateIdentityProviderSchema>

const SyncReportSchema = z
  .object({
    status: z.enum(['ok', 'failed', 'unsafe']),
    startedAt: z.string(),
    finishedAt: z.string(),
    returned: z.number().int(),
    known: z.number().int(),
    updated: z.number().int(),
    disabled: z.number().int(),
    detail: z.string().optional(),
  })
  .openapi('DirectorySyncReport')

export const IdentityProviderSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    type: z.enum(['ldap', 'saml', 'oidc']),
    displayName: z.string(),
    enabled: z.boolean(),
    settings: z.record(z.string(), z.unknown()).openapi({ description: 'Without secrets.' }),
    writeOnlySet: z.array(z.string()).openapi({ description: 'Secret settings that are set (never shown).' }),
    roleMapping: z.array(z.record(z.string(), z.unknown())),
    strict: z.boolean(),
    defaultRole: z.enum(roles),
    autoProvision: z.boolean(),
    linking: z.object({ byVerifiedEmail: z.boolean(), domains: z.array(z.string()) }),
    trustProviderMfa: z.boolean(),
    sync: z.record(z.string(), z.unknown()),
    lastSync: orNull(SyncReportSchema),
    managedBy: z.enum(['api', 'file']),
    endpoints: z.record(z.string(), z.string().nullable()).openapi({
      description: 'URLs to give the identity provider and a login page (login, acs, metadata, redirectUri).',
    }),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('IdentityProvider')
export const IdentityProviderListSchema = z
  .object({ items: z.array(IdentityProviderSchema) })
  .openapi('IdentityProviderList')

export const ProviderTestInputSchema = z
  .object({
    username: z.string().min(1).max(256).optional(),
    password: z.string().min(1).max(1024).optional(),
  })
  .strict()
  .openapi('IdentityProviderTestInput', {
    description: 'LDAP: a test sign-in shows the groups and role found.',
  })
export const ProviderTestReportSchema = z
  .object({
    ok: z.boolean(),
    steps: z.array(z.object({ step: z.string(), ok: z.boolean(), detail: z.string(), ms: z.number() })),
    identity: z
      .object({
        externalId: z.string(),
        email: z.string().optional(),
        displayName: z.string().optional(),
        groups: z.array(z.string()),
        role: z.enum(roles).nullable(),
      })
      .optional(),
  })
  .openapi('IdentityProviderTestReport')
export { SyncReportSchema }

export const PublicProviderListSchema = z
  .object({
    items: z.array(
      z.object({
        name: z.string(),
        type: z.enum(['ldap', 'saml', 'oidc']),
        displayName: z.string(),
        loginUrl: z.string().openapi({
          description: 'LDAP: POST username and password there; SAML, OIDC: send the browser there (GET).',
        }),
      }),
    ),
  })
  .openapi('SignInProviderList')

const sessionMode = z.enum(['token', 'cookie']).default('token')
export const LdapLoginInputSchema = z
  .object({
    username: z.string().max(256).openapi({ example: 'jsmith' }),
    password: z.string().max(1024),
    session: sessionMode,
  })
  .strict()
  .openapi('LdapLoginInput')

export const ExchangeInputSchema = z
  .object({
    code: z
      .string()
      .min(1)
      .max(128)
      .openapi({ description: 'The sso_code from the URL fragment after sign-in.' }),
    session: sessionMode,
  })
  .strict()
  .openapi('SsoExchangeInput')

export const ReturnToQuery = z.object({
  returnTo: z.string().max(2048).optional().openapi({
    description: 'Relative path to return to after sign-in (within PGA_SSO_RETURN_PATHS).',
    example: '/app/',
  }),
})
export const OidcCallbackQuery = z.object({
  code: z.string().max(4096).optional(),
  state: z.string().max(256).optional(),
  error: z.string().max(256).optional(),
  error_description: z.string().max(1024).optional(),
})
// Open on purpose: the IdP's auto-submitting form posts it, and some IdPs add fields of their
// own; only these two are read.
export const SamlAcsFormSchema = z
  .object({
    SAMLResponse: z.string().min(1).max(2_000_000),
    RelayState: z.string().max(2048).optional(),
  })
  .openapi('SamlAcsForm')
