// Sign-in and the account verbs: first-start setup, login, refresh, logout, change of password,
// the caller's own sessions. Unknown user, wrong password and disabled account get the same answer
// after the same work (a password is always verified, against a dummy hash when there is no user).
// Every outcome is an audit event.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { recordAuditEvent } from '../audit/events.ts'
import { ConflictError, ForbiddenError, NotFoundError, UnauthorizedError } from '../http/errors.ts'
import { isoTimestamp, withTransaction } from '../platform/db/database.ts'
import type { Logger } from '../platform/log.ts'
import { type MfaContext, rolesRequiringMfa, startChallenge } from './mfa.ts'
import { hashPassword, needsRehash, verifyPassword } from './passwords.ts'
import { type AuthenticatedUser, RefreshReuseError, type TokenResponse } from './sessions.ts'
import { openSession } from './sign-in.ts'
import { rotateSigningKey } from './token-keys.ts'
import {
  type AccountSettings,
  countUsers,
  createUser,
  findUser,
  findUserByEmail,
  publicUser,
  setPassword,
  type User,
} from './users.ts'

export type AuthContext = MfaContext & { settings: AccountSettings }

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')
const invalidCredentials = () =>
  new UnauthorizedError('The email or password is not correct.', 'invalid_credentials')

let dummy: { params: string; encoded: string } | undefined
/** What an unknown user's password is verified against, so timing does not tell: a PHC string
 * with the configured parameters and random salt and hash bytes. Verifying costs what verifying a
 * real hash with those parameters costs (the work depends on them alone), and making it costs no
 * hash: no password-hashing thread has to start until someone signs in. */
function dummyHash(settings: AccountSettings): string {
  const { memoryKib, iterations, parallelism } = settings.argon2
  const params = `m=${memoryKib},t=${iterations},p=${parallelism}`
  if (dummy?.params !== params) {
    const unpadded = (bytes: number) => randomBytes(bytes).toString('base64').replace(/=+$/, '')
    dummy = { params, encoded: `$argon2id$v=19$${params}$${unpadded(16)}$${unpadded(32)}` }
  }
  return dummy.encoded
}

export async function login(
  ctx: AuthContext,
  input: { email: string; password: string },
): Promise<
  | (TokenResponse & { user: User; mfa_enrollment_required: boolean })
  | Awaited<ReturnType<typeof startChallenge>>
> {
  const email = input.email.trim().toLowerCase()
  await ctx.throttle.hit('login', ctx.audit.ip, () =>
    recordThrottled(ctx, 'login', { address: ctx.audit.ip }),
  )
  await ctx.throttle.checkAccount(email)
  const user = await findUserByEmail(ctx.db, email)
  const valid = await verifyPassword(input.password, user?.passwordHash ?? dummyHash(ctx.settings))
  const refusal = !user
    ? 'unknown_user'
    : !user.passwordHash
      ? 'no_local_password'
      : !valid
        ? 'wrong_password'
        : user.disabled
          ? 'disabled'
          : null
  if (refusal || !user) {
    const failures = await ctx.throttle.recordFailure(email)
    await recordAuditEvent(ctx.db, ctx.audit, {
      eventType: 'auth.login',
      resourceType: 'user',
      resourceId: user?.id,
      action: 'login',
      outcome: 'failure',
      changes: { email, reason: refusal, failuresThisHour: failures },
    })
    throw invalidCredentials()
  }
  await ctx.throttle.recordSuccess(email)
  if (needsRehash(user.passwordHash as string, ctx.settings.argon2)) {
    const rehashed = await hashPassword(input.password, ctx.settings.argon2)
    await ctx.db`update auth_users set password_hash = ${rehashed} where id::text = ${user.id}`
  }
  await ctx.db`update auth_users set last_login_at = now() where id::text = ${user.id}`
  if (user.mfaEnabled) return startChallenge(ctx, user.id)
  const mustEnroll = (await rolesRequiringMfa(ctx.db)).includes(user.role)
  const tokens = await openSession(
    ctx,
    { id: user.id, role: user.role, tokenVersion: user.tokenVersion, disabled: false },
    'password',
    { restricted: mustEnroll },
  )
  return { ...tokens, user: publicUser(user), mfa_enrollment_required: mustEnroll }
}

export async function refresh(ctx: AuthContext, refreshToken: string): Promise<TokenResponse> {
  await ctx.throttle.hit('refresh', ctx.audit.ip, () =>
    recordThrottled(ctx, 'refresh', { address: ctx.audit.ip }),
  )
  try {
    const tokens = await ctx.sessions.refresh(refreshToken)
    return tokens
  } catch (error) {
    if (error instanceof RefreshReuseError)
      await recordAuditEvent(ctx.db, ctx.audit, {
        eventType: 'auth.refresh_token_reused',
        resourceType: 'session',
        resourceId: error.sessionId,
        action: 'execute',
        outcome: 'failure',
        changes: { consequence: 'session ended' },
      })
    throw error
  }
}

/** Ends the caller's session and revokes the access token at once. */
export async function logout(ctx: AuthContext, caller: AuthenticatedUser): Promise<void> {
  await ctx.sessions.revoke(caller.sessionId, 'logout')
  await ctx.sessions.blacklist(caller)
  await recordAuditEvent(ctx.db, ctx.audit, {
    eventType: 'auth.logout',
    resourceType: 'session',
    resourceId: caller.sessionId,
    action: 'logout',
  })
}

export async function me(ctx: AuthContext, caller: AuthenticatedUser): Promise<User> {
  const user = await findUser(ctx.db, caller.userId)
  if (!user) throw new NotFoundError('The account no longer exists.')
  return publicUser(user)
}

/** Changes the caller's password (the current one is required) and ends their other sessions. */
export async function changePassword(
  ctx: AuthContext,
  caller: AuthenticatedUser,
  input: { currentPassword: string; newPassword: string },
): Promise<TokenResponse> {
  const user = await findUser(ctx.db, caller.userId)
  if (!user?.passwordHash)
    throw new ForbiddenError('no_local_password', 'This account signs in through its identity provider.')
  if (!(await verifyPassword(input.currentPassword, user.passwordHash))) {
    await recordAuditEvent(ctx.db, ctx.audit, {
      eventType: 'auth.password_changed',
      resourceType: 'user',
      resourceId: user.id,
      action: 'update',
      outcome: 'failure',
      changes: { reason: 'wrong current password' },
    })
    throw new UnauthorizedError('The current password is not correct.', 'invalid_credentials')
  }
  await setPassword(
    ctx.db,
    ctx.audit,
    user,
    input.newPassword,
    ctx.settings,
    'auth.password_changed',
    'newPassword',
  )
  await ctx.sessions.revokeAllOf(user.id, 'password_changed', { sessionId: caller.sessionId })
  await ctx.sessions.blacklist(caller)
  return ctx.sessions.reissue(caller.sessionId)
}

export type SessionView = {
  id: string
  createdAt: string
  expiresAt: string
  lastSeenAt: string
  ipAddress: string | null
  userAgent: string | null
  method: string
  current: boolean
}

export async function listSessions(
  ctx: AuthContext,
  userId: string,
  currentId?: string,
): Promise<SessionView[]> {
  const rows = await ctx.db.unsafe<Omit<SessionView, 'current'>[]>(
    `select id::text, ${isoTimestamp('created_at')} as "createdAt", ${isoTimestamp('expires_at')} as "expiresAt",
            ${isoTimestamp('last_seen_at')} as "lastSeenAt", ip_address as "ipAddress", user_agent as "userAgent", method
       from auth_sessions where user_id::text = $1 and revoked_at is null and expires_at > now()
      order by created_at desc`,
    [userId],
  )
  return rows.map((r) => ({ ...r, current: r.id === currentId }))
}

/** Ends one session: the caller's own, or anyone's for those who manage users. */
export async function endSession(
  ctx: AuthContext,
  caller: { userId: string; mayManageUsers: boolean },
  sessionId: string,
) {
  const [row] = await ctx.db<{ userId: string }[]>`
    select user_id::text as "userId" from auth_sessions where id::text = ${sessionId} and revoked_at is null`
  if (!row || (row.userId !== caller.userId && !caller.mayManageUsers))
    throw new NotFoundError(`Session ${sessionId} does not exist or has ended.`)
  await ctx.sessions.revoke(sessionId, row.userId === caller.userId ? 'ended_by_user' : 'ended_by_admin')
  await recordAuditEvent(ctx.db, ctx.audit, {
    eventType: 'auth.session_ended',
    resourceType: 'session',
    resourceId: sessionId,
    action: 'delete',
    changes: { userId: row.userId },
  })
}

/** An administrator sets a user's password; the user's sessions end. */
export async function resetPassword(ctx: AuthContext, userId: string, password: string): Promise<void> {
  const user = await findUser(ctx.db, userId)
  if (!user) throw new NotFoundError('No such user.')
  await setPassword(ctx.db, ctx.audit, user, password, ctx.settings, 'user.password_reset')
  await ctx.sessions.revokeAllOf(user.id, 'password_reset')
}

/** Ends every session and token of a user. Returns how many sessions were live. */
export async function endAllSessions(ctx: AuthContext, userId: string): Promise<number> {
  if (!(await findUser(ctx.db, userId))) throw new NotFoundError('No such user.')
  const ended = await ctx.sessions.revokeAllOf(userId, 'ended_by_admin')
  await recordAuditEvent(ctx.db, ctx.audit, {
    eventType: 'auth.sessions_ended',
    resourceType: 'user',
    resourceId: userId,
    action: 'delete',
    changes: { ended },
  })
  return ended
}

/** A client passed a rate limit (recorded once per window, not per refused request). */
async function recordThrottled(ctx: AuthContext, endpoint: string, changes: Record<string, unknown>) {
  await recordAuditEvent(ctx.db, ctx.audit, {
    eventType: 'auth.rate_limited',
    resourceType: 'endpoint',
    resourceId: endpoint,
    action: 'execute',
    outcome: 'failure',
    changes,
  })
}

/** Starts signing access tokens with a new key; the old key verifies until its tokens expire. */
export async function rotateTokenKey(ctx: AuthContext): Promise<string> {
  const kid = await rotateSigningKey(ctx.db, ctx.keyring())
  await recordAuditEvent(ctx.db, ctx.audit, {
    eventType: 'keys.token_signing_key_rotated',
    resourceType: 'signing_key',
    resourceId: kid,
    action: 'execute',
  })
  return kid
}

// First start -----------------------------------------------------------------------------------

/** On start with no users: the admin from the environment, or a one-time setup token to print. */
export async function prepareFirstAdmin(
  ctx: Pick<AuthContext, 'db' | 'settings'>,
  env: { email?: string | undefined; password?: string | undefined },
  log: Logger,
): Promise<{ setupToken: string } | null> {
  if ((await countUsers(ctx.db)) > 0) return null
  if (!!env.email !== !!env.password)
    throw new Error(
      'PGA_ADMIN_EMAIL and PGA_ADMIN_PASSWORD create the first administrator together: set both or neither.',
    )
  if (env.email && env.password) {
    await createUser(
      ctx.db,
      { actor: { type: 'system', id: 'first-start' } },
      { email: env.email, password: env.password, role: 'admin', displayName: 'Administrator' },
      ctx.settings,
      'auth.setup_completed',
    ).catch((error) => {
      if (!(error instanceof ConflictError)) throw error
    })
    log.info('first administrator created from PGA_ADMIN_EMAIL', { email: env.email })
    return null
  }
  const setupToken = randomBytes(24).toString('base64url')
  await ctx.db`
    insert into auth_setup (token_hash) values (${sha256(setupToken)})
    on conflict (id) do update set token_hash = excluded.token_hash, created_at = now()
     where auth_setup.used_at is null`
  return { setupToken }
}

/** Creates the first administrator with the token printed at start; the token works once. */
export async function completeSetup(
  ctx: AuthContext,
  input: { token: string; email: string; password: string; displayName?: string | undefined },
): Promise<User> {
  await ctx.throttle.hit('setup', ctx.audit.ip, () =>
    recordThrottled(ctx, 'setup', { address: ctx.audit.ip }),
  )
  return withTransaction(ctx.db, async (tx) => {
    const [setup] = await tx<{ tokenHash: string; used: boolean }[]>`
      select token_hash as "tokenHash", used_at is not null as used from auth_setup for update`
    const presented = Buffer.from(sha256(input.token))
    const matches = !!setup && timingSafeEqual(presented, Buffer.from(setup.tokenHash))
    if (!setup || setup.used || !matches || (await countUsers(tx)) > 0) {
      await recordAuditEvent(ctx.db, ctx.audit, {
        eventType: 'auth.setup_completed',
        resourceType: 'user',
        action: 'create',
        outcome: 'failure',
        changes: { reason: !setup || !matches ? 'invalid token' : 'already set up' },
      })
      throw new ForbiddenError('setup_token_invalid', 'The setup token is not valid or was already used.')
    }
    await tx`update auth_setup set used_at = now()`
    return createUser(tx, ctx.audit, { ...input, role: 'admin' }, ctx.settings, 'auth.setup_completed')
  })
}
