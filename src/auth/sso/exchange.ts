// Handing a browser sign-in (SAML ACS, OIDC callback) to the page that asked for it without
// putting tokens in a URL: the session opened there is named by a one-time code (60 s, bound to
// the browser's SSO cookie) in the URL fragment of the redirect (never sent to a server, never in
// a Referer or an access log); the page posts it to /api/v1/auth/exchange and gets the same
// answer as a password sign-in (tokens or cookies, or the MFA challenge).
import { recordAuditEvent } from '../../audit/events.ts'
import { UnauthorizedError } from '../../http/errors.ts'
import type { TokenResponse } from '../sessions.ts'
import { findUser, publicUser, type User } from '../users.ts'
import type { SsoSignInResult } from './complete-sign-in.ts'
import { hashBinding, issueExchangeCode, sameBinding, takeExchangeCode } from './handshakes.ts'
import type { SsoContext } from './types.ts'

/** The redirect after a successful browser sign-in: back to the page, the code in the fragment. */
export async function redirectWithCode(
  ctx: Pick<SsoContext, 'state'>,
  provider: string,
  result: SsoSignInResult,
  returnTo: string,
  binding: string,
): Promise<string> {
  const code = await issueExchangeCode(
    ctx.state,
    result.kind === 'session'
      ? {
          kind: 'session',
          sessionId: result.tokens.session_id,
          userId: result.user.id,
          provider,
          binding: hashBinding(binding),
          mfaEnrollmentRequired: result.mfaEnrollmentRequired,
        }
      : {
          kind: 'mfa',
          mfaToken: result.challenge.mfa_token,
          expiresIn: result.challenge.expires_in,
          userId: result.userId,
          provider,
          binding: hashBinding(binding),
        },
  )
  return `${returnTo}#sso_code=${code}`
}

export type ExchangeResult =
  | (TokenResponse & { user: User; mfa_enrollment_required: boolean })
  | { mfa_required: true; mfa_token: string; expires_in: number }

const invalidCode = () =>
  new UnauthorizedError(
    'The sign-in code is unknown, expired, used, or from another browser.',
    'sso_code_invalid',
  )

/** Exchanges a one-time code (from the browser that signed in) for tokens or the MFA challenge. */
export async function exchangeCode(
  ctx: SsoContext,
  code: string,
  binding: string | undefined,
): Promise<ExchangeResult> {
  await ctx.throttle.hit('sso-exchange', ctx.audit.ip)
  const record = await takeExchangeCode(ctx.state, code)
  const reason = !record ? 'unknown_code' : !sameBinding(record.binding, binding) ? 'browser_mismatch' : null
  const event = {
    eventType: 'auth.sso_code_exchanged',
    resourceType: 'user',
    resourceId: record?.userId,
    action: 'login' as const,
  }
  if (reason || !record) {
    await recordAuditEvent(ctx.db, ctx.audit, { ...event, outcome: 'failure', changes: { reason } })
    throw invalidCode()
  }
  if (record.kind === 'mfa') {
    await recordAuditEvent(ctx.db, ctx.audit, {
      ...event,
      changes: { provider: record.provider, next: 'mfa' },
    })
    return { mfa_required: true, mfa_token: record.mfaToken, expires_in: record.expiresIn }
  }
  const tokens = await ctx.sessions.reissue(record.sessionId)
  const user = await findUser(ctx.db, record.userId)
  if (!user) throw invalidCode()
  await recordAuditEvent(
    ctx.db,
    { ...ctx.audit, actor: { type: 'user', id: user.id, sessionId: record.sessionId } },
    { ...event, changes: { provider: record.provider, sessionId: record.sessionId } },
  )
  return { ...tokens, user: publicUser(user), mfa_enrollment_required: record.mfaEnrollmentRequired }
}
