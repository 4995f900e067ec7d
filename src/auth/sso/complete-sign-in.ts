// The last steps every SSO sign-in shares, whatever proved the identity: the role from the
// provider's mapping, the user found by (provider, external id), linked to an existing account
// only by the provider's explicit rule, or created just in time; email, name and role kept in
// step with the provider; then this service's MFA policy (unless the provider asserted MFA and is
// trusted to), and the same session and `auth.login` event as a password sign-in.
import { type AuditContext, recordAuditEvent } from '../../audit/events.ts'
import { ConflictError, ForbiddenError, UnauthorizedError } from '../../http/errors.ts'
import { type Tx, withTransaction } from '../../platform/db/database.ts'
import { rolesRequiringMfa, startChallenge } from '../mfa.ts'
import type { Role } from '../permissions.ts'
import type { TokenResponse } from '../sessions.ts'
import { openSession } from '../sign-in.ts'
import { publicUser, type User } from '../users.ts'
import * as repo from './repo.ts'
import { mapRole } from './role-mapping.ts'
import type { ExternalIdentity, IdentityProvider, SsoContext } from './types.ts'

export type SsoSignInResult =
  | { kind: 'session'; tokens: TokenResponse; user: User; mfaEnrollmentRequired: boolean }
  | { kind: 'mfa'; userId: string; challenge: { mfa_required: true; mfa_token: string; expires_in: number } }

/** A refused sign-in: the answer the client gets and the reason the audit trail records. */
class Refusal extends Error {
  constructor(
    readonly reason: string,
    readonly answer: Error,
    readonly userId?: string,
  ) {
    super(reason)
  }
}

/** The API's view of a user (no password hash, token version or external id). */
const shown = ({ externalId: _, ...user }: repo.ProviderUser) => publicUser(user)

const invalidCredentials = () =>
  new UnauthorizedError('The email or password is not correct.', 'invalid_credentials')
const accountExists = () =>
  new ConflictError(
    'account_exists',
    'An account with this email exists and is not linked to this identity provider; an administrator decides (linking rule or a different email).',
  )

/** Records a failed SSO sign-in (`auth.login`, outcome failure) with the provider and the reason. */
export async function recordSsoFailure(
  ctx: Pick<SsoContext, 'db' | 'audit'>,
  provider: { name: string; type: string },
  reason: string,
  extra: Record<string, unknown> = {},
  userId?: string,
): Promise<void> {
  await recordAuditEvent(ctx.db, ctx.audit, {
    eventType: 'auth.login',
    resourceType: 'user',
    resourceId: userId,
    action: 'login',
    outcome: 'failure',
    changes: { method: provider.type, provider: provider.name, reason, ...extra },
  })
}

/** Changes made for a provider are attributed to it, from the request's address. */
const providerAudit = (ctx: SsoContext, provider: IdentityProvider): AuditContext => ({
  ...ctx.audit,
  actor: { type: 'system', id: `identity-provider:${provider.name}` },
})

/** The email a user is known by: the provider's, or a placeholder that can never be linked. */
function emailOf(provider: IdentityProvider, identity: ExternalIdentity): string {
  const email = identity.email?.trim().toLowerCase()
  if (email && /^[^\s@]+@[^\s@]+$/.test(email) && email.length <= 254) return email
  const local = (identity.username ?? identity.externalId).toLowerCase().replace(/[^a-z0-9._-]/g, '-')
  return `${local.slice(0, 64)}@${provider.name}.invalid`
}

function mayLink(provider: IdentityProvider, identity: ExternalIdentity, email: string): boolean {
  const domain = email.split('@')[1] ?? ''
  return (
    provider.linking.byVerifiedEmail &&
    identity.emailVerified &&
    provider.linking.domains.map((d) => d.toLowerCase()).includes(domain)
  )
}

/** A user the provider vouches for but this service has not seen: linked by the explicit rule
 * to an account with the same email, or created (just in time). */
async function linkOrCreate(
  tx: Tx,
  audit: AuditContext,
  provider: IdentityProvider,
  identity: ExternalIdentity,
  profile: { email: string; displayName: string | null; role: Role },
): Promise<repo.ProviderUser> {
  const existing = await repo.findUserByEmailForUpdate(tx, profile.email)
  if (existing) {
    if (existing.identityProvider || !mayLink(provider, identity, profile.email))
      throw new Refusal('account_exists_not_linked', accountExists(), existing.id)
    await repo.linkUser(tx, existing.id, provider.name, identity.externalId)
    await recordAuditEvent(tx, audit, {
      eventType: 'user.linked',
      resourceType: 'user',
      resourceId: existing.id,
      action: 'update',
      changes: { provider: provider.name, externalId: identity.externalId, rule: 'verified email, domain' },
    })
    return { ...existing, identityProvider: provider.name, externalId: identity.externalId }
  }
  if (!provider.autoProvision)
    throw new Refusal(
      'not_provisioned',
      new ForbiddenError(
        'account_not_provisioned',
        'No account exists for you here yet; ask an administrator.',
      ),
    )
  const created = await repo.insertProviderUser(tx, {
    ...profile,
    source: provider.type,
    provider: provider.name,
    externalId: identity.externalId,
  })
  // A concurrent first sign-in of the same user created it a moment ago: use that one.
  if (!created)
    return (await repo.findUserByExternalId(tx, provider.name, identity.externalId)) as repo.ProviderUser
  await recordAuditEvent(tx, audit, {
    eventType: 'user.created',
    resourceType: 'user',
    resourceId: created.id,
    action: 'create',
    changes: { provider: provider.name, justInTime: true },
    newValues: shown(created),
  })
  return created
}

/** Finds, links or creates the user, and brings email, name and role up to date. */
async function resolveUser(
  ctx: SsoContext,
  provider: IdentityProvider,
  identity: ExternalIdentity,
  role: Role,
): Promise<repo.ProviderUser> {
  const audit = providerAudit(ctx, provider)
  return withTransaction(ctx.db, async (tx) => {
    const email = emailOf(provider, identity)
    const displayName = identity.displayName?.slice(0, 200) ?? null
    const user =
      (await repo.findUserByExternalId(tx, provider.name, identity.externalId)) ??
      (await linkOrCreate(tx, audit, provider, identity, { email, displayName, role }))
    const found = user
    if (found.disabled) throw new Refusal('disabled', invalidCredentials(), found.id)
    const newEmail =
      email !== found.email && !(await repo.emailTaken(tx, email, found.id)) ? email : found.email
    const change = { email: newEmail, displayName: displayName ?? found.displayName, role }
    const changed = (['email', 'displayName', 'role'] as const).filter((k) => change[k] !== found[k])
    if (changed.length === 0) return found
    await repo.updateUserProfile(tx, found.id, change)
    await recordAuditEvent(tx, audit, {
      eventType: 'user.updated',
      resourceType: 'user',
      resourceId: found.id,
      action: 'update',
      changes: Object.fromEntries(changed.map((k) => [k, { old: found[k], new: change[k] }])),
    })
    return { ...found, ...change }
  })
}

/** Signs in the identity a provider proved: a session (or the MFA challenge), as a password login. */
export async function completeSignIn(
  ctx: SsoContext,
  provider: IdentityProvider,
  identity: ExternalIdentity,
): Promise<SsoSignInResult> {
  const method = provider.type
  const { role, rule } = mapRole(provider, identity)
  try {
    if (!role)
      throw new Refusal(
        'no_matching_role',
        new ForbiddenError(
          'sso_no_role',
          'No role mapping rule of this identity provider matches your account.',
        ),
      )
    const user = await resolveUser(ctx, provider, identity, role)
    await repo.recordLogin(ctx.db, user.id)
    ctx.sessions.forgetUser(user.id)
    const trustedMfa = provider.trustProviderMfa && identity.mfaAsserted
    if (user.mfaEnabled && !trustedMfa)
      return {
        kind: 'mfa',
        userId: user.id,
        challenge: await startChallenge(ctx, user.id, { firstFactor: method, provider: provider.name }),
      }
    const mustEnroll = !trustedMfa && !user.mfaEnabled && (await rolesRequiringMfa(ctx.db)).includes(role)
    const tokens = await openSession(
      ctx,
      { id: user.id, role, tokenVersion: user.tokenVersion, disabled: false },
      trustedMfa ? `${method}+provider_mfa` : method,
      { restricted: mustEnroll, provider: provider.name },
    )
    return { kind: 'session', tokens, user: shown({ ...user, role }), mfaEnrollmentRequired: mustEnroll }
  } catch (error) {
    if (!(error instanceof Refusal)) throw error
    await recordSsoFailure(
      ctx,
      provider,
      error.reason,
      { externalId: identity.externalId, ...(rule === null ? {} : { rule }) },
      error.userId,
    )
    throw error.answer
  }
}
