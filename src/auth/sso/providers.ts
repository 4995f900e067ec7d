// The provider types, chosen by data: one adapter per type (ldap.ts, saml.ts, oidc.ts) with its
// settings schema, rule schema and secret fields. Adding a type is one adapter and one entry here.
import type { z } from '@hono/zod-openapi'
import { ldapAdapter } from './ldap.ts'
import { oidcAdapter } from './oidc.ts'
import { samlAdapter } from './saml.ts'
import {
  LdapRuleSchema,
  LdapSettingsSchema,
  OidcRuleSchema,
  OidcSettingsSchema,
  SamlRuleSchema,
  SamlSettingsSchema,
  secretFields,
} from './settings.ts'
import type { ProviderAdapter, ProviderType, SettingsOf } from './types.ts'

type Kind<T extends ProviderType> = {
  adapter: ProviderAdapter<T>
  settings: z.ZodType<SettingsOf[T]>
  rule: z.ZodType
  secretFields: readonly string[]
}

export const providerKinds: { [T in ProviderType]: Kind<T> } = {
  ldap: {
    adapter: ldapAdapter,
    settings: LdapSettingsSchema,
    rule: LdapRuleSchema,
    secretFields: secretFields.ldap,
  },
  saml: {
    adapter: samlAdapter,
    settings: SamlSettingsSchema,
    rule: SamlRuleSchema,
    secretFields: secretFields.saml,
  },
  oidc: {
    adapter: oidcAdapter,
    settings: OidcSettingsSchema,
    rule: OidcRuleSchema,
    secretFields: secretFields.oidc,
  },
}

export const kindOf = <T extends ProviderType>(type: T): Kind<T> => providerKinds[type] as Kind<T>
