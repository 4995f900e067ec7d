// The shapes every provider type shares: a stored identity provider, the identity a protocol
// adapter proves (LDAP bind, SAML assertion, OIDC ID token or GitHub API), the adapter interface
// the registry in providers.ts holds one of per type, and the context the verbs run in.
import type { AuditContext } from '../../audit/events.ts'
import type { FieldProblem } from '../../http/errors.ts'
import type { Keyring } from '../../keys/keyring.ts'
import type { Db } from '../../platform/db/database.ts'
import type { Logger } from '../../platform/log.ts'
import type { StateStore } from '../../platform/state/state-store.ts'
import type { Role } from '../permissions.ts'
import type { SignInThrottle } from '../rate-limit.ts'
import type { Sessions } from '../sessions.ts'
import type { SsoConfig } from './config.ts'
import type { LdapSettings, OidcSettings, SamlSettings } from './settings.ts'

export const providerTypes = ['ldap', 'saml', 'oidc'] as const
export type ProviderType = (typeof providerTypes)[number]

export type SettingsOf = { ldap: LdapSettings; saml: SamlSettings; oidc: OidcSettings }

/** One rule of a role mapping: LDAP matches a group DN, SAML an attribute value, OIDC a claim value. */
export type RoleRule =
  | { group: string; role: Role }
  | { attribute: string; value: string; role: Role }
  | { claim: string; value: string; role: Role }

export type Linking = { byVerifiedEmail: boolean; domains: string[] }
export type SyncSettings = { enabled: boolean; intervalMinutes: number; minReturnedPercent: number }

/** A provider as stored, secrets decrypted only on demand. */
export type IdentityProvider<T extends ProviderType = ProviderType> = {
  id: string
  name: string
  type: T
  displayName: string
  enabled: boolean
  settings: SettingsOf[T]
  /** The encrypted secrets (JSON), or null. */
  secretsEnc: string | null
  roleMapping: RoleRule[]
  strict: boolean
  defaultRole: Role
  autoProvision: boolean
  linking: Linking
  trustProviderMfa: boolean
  sync: SyncSettings | Record<string, never>
  lastSync: SyncReport | null
  managedBy: 'api' | 'file'
  createdAt: string
  updatedAt: string
}

/** Who the provider says signed in. */
export type ExternalIdentity = {
  /** Stable id at the provider: entryUUID/objectGUID, NameID, sub, GitHub user id. */
  externalId: string
  username?: string | undefined
  email?: string | undefined
  /** The provider vouches for the email (email_verified, or a managed directory). */
  emailVerified: boolean
  displayName?: string | undefined
  /** LDAP: group DNs. */
  groups: string[]
  /** SAML attributes / OIDC claims (and GitHub orgs, teams), every value as text. */
  claims: Record<string, string[]>
  /** The provider asserts the user did MFA (amr, AuthnContextClassRef). */
  mfaAsserted: boolean
}

export type SyncReport = {
  status: 'ok' | 'failed' | 'unsafe'
  startedAt: string
  finishedAt: string
  /** Entries the directory returned. */
  returned: number
  /** Known (enabled) users of the provider before the sync. */
  known: number
  updated: number
  disabled: number
  detail?: string
}

export type TestStep = { step: string; ok: boolean; detail: string; ms: number }
export type TestReport = {
  ok: boolean
  steps: TestStep[]
  /** What a test sign-in found (LDAP with a username and password). */
  identity?: { externalId: string; email?: string; displayName?: string; groups: string[]; role: Role | null }
}

/** What verbs need: the store, state, keyring, config, log and the request's audit context. */
export type SsoContext = {
  db: Db
  state: StateStore
  keyring: () => Keyring
  sessions: Sessions
  throttle: SignInThrottle
  config: SsoConfig
  log: Logger
  audit: AuditContext
  issuer: string
}

/** One per provider type, chosen by data (the provider's `type`). */
export type ProviderAdapter<T extends ProviderType = ProviderType> = {
  type: T
  /** Problems the schema cannot see (plaintext LDAP, missing certificates, http issuers...). */
  check(settings: SettingsOf[T], secrets: Record<string, string>, config: SsoConfig): FieldProblem[]
  /** Settings completed from other sources before storing (SAML metadata from XML, or from a URL
   * when this change sets it): `changed` holds the settings the request sent. */
  prepare?(
    settings: SettingsOf[T],
    config: SsoConfig,
    changed: Record<string, unknown>,
  ): Promise<SettingsOf[T]>
  /** Where a browser or client starts signing in. */
  loginPath(name: string): string
  /** Checks the provider is reachable and usable; optionally a test sign-in (LDAP). */
  test(
    ctx: SsoContext,
    provider: IdentityProvider<T>,
    secrets: Record<string, string>,
    input: { username?: string | undefined; password?: string | undefined },
  ): Promise<TestReport>
}
