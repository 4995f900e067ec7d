// Multi-factor sign-in with TOTP. Enrollment: a new secret waits in the state store (encrypted)
// until the user proves it with a first code; then it is stored encrypted by the keyring with 10
// hashed backup codes. Sign-in: the password step yields a short-lived challenge (5 minutes, 5
// attempts) in the state store; the code step completes it. A TOTP code counts once (the step is
// recorded durably); a backup code once (its hash is removed). Turning MFA off needs the password
// and a code. Roles can be required to use MFA: their members without it get a session that can
// only enroll.
import { randomBytes } from 'node:crypto'
import { type AuditContext, recordAuditEvent } from '../audit/events.ts'
import { BadRequestError, ConflictError, UnauthorizedError } from '../http/errors.ts'
import type { Keyring } from '../keys/keyring.ts'
import { type Db, withTransaction } from '../platform/db/database.ts'
import type { StateStore } from '../platform/state/state-store.ts'
import { verifyPassword } from './passwords.ts'
import type { Role } from './permissions.ts'
import type { SignInThrottle } from './rate-limit.ts'
import type { Sessions, TokenResponse } from './sessions.ts'
import { openSession } from './sign-in.ts'
import { enrollmentOf, hashBackupCode, matchingStep, newBackupCodes, newTotpSecret } from './totp.ts'

export type MfaContext = {
  db: Db
  state: StateStore
  keyring: () => Keyring
  sessions: Sessions
  throttle: SignInThrottle
  audit: AuditContext
  issuer: string
}

const challengeTtlMs = 5 * 60_000
const maxChallengeAttempts = 5
const enrollKey = (userId: string) => `auth:mfa-enroll:${userId}`
const challengeKey = (id: string) => `auth:mfa-challenge:${id}`
const secretField = (userId: string) => ({ table: 'auth_users', column: 'mfa_secret_enc', rowKey: userId })

type Challenge = {
  userId: string
  attempts: number
  ip?: string | undefined
  /** How the first step was done (password, ldap, saml, oidc) and through which provider. */
  firstFactor?: string
  provider?: string
}

/** Starts enrollment: a new secret, its otpauth URI and QR codes. Nothing changes until confirmed. */
export async function startEnrollment(
  ctx: MfaContext,
  user: { id: string; email: string; mfaEnabled: boolean },
) {
  if (user.mfaEnabled) throw new ConflictError('mfa_already_enabled', 'MFA is already on; turn it off first.')
  const secret = newTotpSecret()
  const sealed = await ctx.keyring().encrypt(Buffer.from(secret).toString('base64'), secretField(user.id))
  await ctx.state.set(enrollKey(user.id), sealed, { ttlMs: 10 * 60_000 })
  return enrollmentOf(secret, ctx.issuer, user.email)
}

/** Confirms enrollment with a first code; returns the backup codes (shown this once). */
export async function confirmEnrollment(
  ctx: MfaContext,
  user: { id: string },
  code: string,
  sessionId?: string,
): Promise<{ backupCodes: string[] }> {
  const sealed = await ctx.state.get(enrollKey(user.id))
  if (!sealed)
    throw new ConflictError(
      'mfa_enrollment_expired',
      'Start enrollment again: it expired or was never started.',
    )
  const secret = Buffer.from(await ctx.keyring().decrypt(sealed, secretField(user.id)), 'base64')
  const step = matchingStep(secret, code)
  if (step === null)
    throw new BadRequestError('invalid_mfa_code', 'The code does not match; check the device’s clock.')
  const backupCodes = newBackupCodes()
  await withTransaction(ctx.db, async (tx) => {
    const [updated] = await tx`
      update auth_users set mfa_secret_enc = ${sealed}, mfa_enabled_at = now(), mfa_last_step = ${step},
             mfa_backup_codes = ${JSON.stringify(backupCodes.map(hashBackupCode))}::text::jsonb, updated_at = now()
       where id::text = ${user.id} and mfa_enabled_at is null
       returning id`
    if (!updated) throw new ConflictError('mfa_already_enabled', 'MFA is already on.')
    await recordAuditEvent(tx, ctx.audit, {
      eventType: 'auth.mfa_enabled',
      resourceType: 'user',
      resourceId: user.id,
      action: 'update',
      changes: { method: 'totp', backupCodes: backupCodes.length },
    })
  })
  await ctx.state.delete(enrollKey(user.id))
  if (sessionId) await ctx.sessions.liftEnrollmentRestriction(sessionId)
  return { backupCodes }
}

/** After a correct password (or an identity provider's word): a challenge for the second step. */
export async function startChallenge(
  ctx: Pick<MfaContext, 'state' | 'audit'>,
  userId: string,
  via: { firstFactor: string; provider: string } | undefined = undefined,
) {
  const id = randomBytes(24).toString('base64url')
  const challenge: Challenge = { userId, attempts: 0, ip: ctx.audit.ip, ...via }
  await ctx.state.set(challengeKey(id), JSON.stringify(challenge), { ttlMs: challengeTtlMs })
  return { mfa_required: true as const, mfa_token: id, expires_in: challengeTtlMs / 1000 }
}

/** The second step: a TOTP code or a backup code completes the sign-in. */
export async function completeChallenge(
  ctx: MfaContext,
  input: { mfa_token: string; code?: string | undefined; backup_code?: string | undefined },
): Promise<TokenResponse> {
  await ctx.throttle.hit('mfa', ctx.audit.ip)
  const key = challengeKey(input.mfa_token)
  const stored = await ctx.state.get(key)
  if (!stored)
    throw new UnauthorizedError(
      'The sign-in challenge expired or is unknown; sign in again.',
      'mfa_challenge_invalid',
    )
  const challenge = JSON.parse(stored) as Challenge
  // Failed codes count per account too: new challenges (each needing the password) do not reset it.
  const account = `mfa:${challenge.userId}`
  await ctx.throttle.checkAccount(account)
  const method = `${challenge.firstFactor ?? 'password'}+${input.code ? 'totp' : 'backup_code'}`
  const accepted = input.code
    ? await acceptTotp(ctx, challenge.userId, input.code)
    : await acceptBackupCode(ctx, challenge.userId, input.backup_code ?? '')
  if (!accepted) {
    await ctx.throttle.recordFailure(account)
    const attempts = challenge.attempts + 1
    // Counted with a compare-and-set so parallel guesses cannot share one attempt.
    const kept =
      attempts < maxChallengeAttempts &&
      (await ctx.state.compareAndSet(key, stored, JSON.stringify({ ...challenge, attempts }), {
        ttlMs: Math.max(1000, (await ctx.state.ttl(key)) ?? 1000),
      }))
    if (!kept) await ctx.state.delete(key)
    await recordAuditEvent(ctx.db, ctx.audit, {
      eventType: 'auth.mfa_verified',
      resourceType: 'user',
      resourceId: challenge.userId,
      action: 'login',
      outcome: 'failure',
      changes: { method, attempts, challengeEnded: !kept },
    })
    throw new UnauthorizedError('The code is not valid (or was already used).', 'invalid_mfa_code')
  }
  await ctx.throttle.recordSuccess(account)
  // One completion per challenge, even with two correct codes in flight.
  if (!(await ctx.state.compareAndSet(key, stored, null)))
    throw new UnauthorizedError('The sign-in challenge was already used.', 'mfa_challenge_invalid')
  const user = await ctx.sessions.user(challenge.userId, { fresh: true })
  if (!user || user.disabled)
    throw new UnauthorizedError('The email or password is not correct.', 'invalid_credentials')
  return openSession(ctx, user, method, { provider: challenge.provider })
}

async function userSecret(ctx: MfaContext, userId: string): Promise<Uint8Array | null> {
  const [row] = await ctx.db<{ sealed: string | null }[]>`
    select mfa_secret_enc as sealed from auth_users where id::text = ${userId} and mfa_enabled_at is not null`
  if (!row?.sealed) return null
  return Buffer.from(await ctx.keyring().decrypt(row.sealed, secretField(userId)), 'base64')
}

/** Accepts a code for a step later than the last accepted one (replay refused on every replica). */
async function acceptTotp(ctx: MfaContext, userId: string, code: string): Promise<boolean> {
  const secret = await userSecret(ctx, userId)
  const step = secret ? matchingStep(secret, code) : null
  if (step === null) return false
  const [row] = await ctx.db`
    update auth_users set mfa_last_step = ${step}
     where id::text = ${userId} and (mfa_last_step is null or mfa_last_step < ${step}) returning id`
  return !!row
}

async function acceptBackupCode(ctx: MfaContext, userId: string, code: string): Promise<boolean> {
  if (!code) return false
  const hash = hashBackupCode(code)
  const [row] = await ctx.db`
    update auth_users set mfa_backup_codes = mfa_backup_codes - ${hash}::text
     where id::text = ${userId} and mfa_backup_codes ? ${hash}::text returning id`
  return !!row
}

/** Turns MFA off: the password and a current code (or a backup code) are required. */
export async function disableMfa(
  ctx: MfaContext,
  user: { id: string; passwordHash: string | null },
  input: { password: string; code?: string | undefined; backup_code?: string | undefined },
): Promise<void> {
  const passwordOk = !!user.passwordHash && (await verifyPassword(input.password, user.passwordHash))
  const codeOk =
    passwordOk &&
    (input.code
      ? await acceptTotp(ctx, user.id, input.code)
      : await acceptBackupCode(ctx, user.id, input.backup_code ?? ''))
  if (!passwordOk || !codeOk) {
    await recordAuditEvent(ctx.db, ctx.audit, {
      eventType: 'auth.mfa_disabled',
      resourceType: 'user',
      resourceId: user.id,
      action: 'update',
      outcome: 'failure',
      changes: { reason: passwordOk ? 'invalid code' : 'wrong password' },
    })
    throw new UnauthorizedError('The password or code is not correct.', 'reauthentication_failed')
  }
  await withTransaction(ctx.db, async (tx) => {
    await tx`update auth_users set mfa_secret_enc = null, mfa_enabled_at = null, mfa_backup_codes = '[]',
                                   mfa_last_step = null, updated_at = now()
              where id::text = ${user.id}`
    await recordAuditEvent(tx, ctx.audit, {
      eventType: 'auth.mfa_disabled',
      resourceType: 'user',
      resourceId: user.id,
      action: 'update',
    })
  })
}

export async function rolesRequiringMfa(db: Db): Promise<Role[]> {
  return (
    await db<{ role: Role }[]>`select role from auth_role_policies where mfa_required order by role`
  ).map((r) => r.role)
}

/** Sets which roles must use MFA (the change is audited). */
export async function setRolesRequiringMfa(db: Db, audit: AuditContext, roles: Role[]): Promise<Role[]> {
  return withTransaction(db, async (tx) => {
    const before = await rolesRequiringMfa(tx)
    await tx`update auth_role_policies set mfa_required = (role = any(${roles}::text[])), updated_at = now(),
                                          updated_by = ${audit.actor.id ?? audit.actor.type}`
    await recordAuditEvent(tx, audit, {
      eventType: 'auth.mfa_policy_updated',
      resourceType: 'config',
      resourceId: 'mfa_policy',
      action: 'update',
      changes: { rolesRequiringMfa: { old: before, new: [...roles].sort() } },
    })
    return rolesRequiringMfa(tx)
  })
}
