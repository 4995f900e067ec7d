// The last step of every sign-in (password, password + MFA, LDAP, SAML, OIDC): start the session
// and record `auth.login` as the signed-in user, with how they signed in (and the identity
// provider that vouched for them).
import { type AuditContext, recordAuditEvent } from '../audit/events.ts'
import type { Db } from '../platform/db/database.ts'
import type { Sessions, TokenResponse, UserState } from './sessions.ts'

export async function openSession(
  ctx: { db: Db; sessions: Sessions; audit: AuditContext },
  user: UserState,
  method: string,
  options: { restricted?: boolean; provider?: string | undefined } = {},
): Promise<TokenResponse> {
  const tokens = await ctx.sessions.start(user, {
    method,
    ip: ctx.audit.ip,
    userAgent: ctx.audit.userAgent,
    ...(options.restricted ? { restricted: true } : {}),
  })
  await recordAuditEvent(
    ctx.db,
    { ...ctx.audit, actor: { type: 'user', id: user.id, sessionId: tokens.session_id } },
    {
      eventType: 'auth.login',
      resourceType: 'user',
      resourceId: user.id,
      action: 'login',
      changes: {
        method,
        ...(options.provider ? { provider: options.provider } : {}),
        ...(options.restricted ? { restrictedUntilMfaEnrollment: true } : {}),
      },
    },
  )
  return tokens
}
