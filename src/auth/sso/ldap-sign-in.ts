// LDAP / Active Directory sign-in (POST /api/v1/auth/ldap/{name}/login): the same throttling as a
// password login (per address, and per account with the growing delay), the same 401 for an
// unknown user and a wrong password, an empty password refused before any bind, a directory that
// is down a 503 with its cause within the timeout; then the shared SSO sign-in.
import { recordAuditEvent } from '../../audit/events.ts'
import { NotFoundError, UnauthorizedError } from '../../http/errors.ts'
import { completeSignIn, recordSsoFailure, type SsoSignInResult } from './complete-sign-in.ts'
import { authenticateLdap } from './ldap.ts'
import { DirectoryUnavailableError } from './ldap-client.ts'
import * as repo from './repo.ts'
import { secretsOf } from './service.ts'
import { withoutControlCharacters } from './text.ts'
import type { SsoContext } from './types.ts'

/** What was typed, fit for the audit trail (no control characters, bounded). */
const printable = (text: string) => withoutControlCharacters(text).slice(0, 256)

const invalidCredentials = () =>
  new UnauthorizedError('The username or password is not correct.', 'invalid_credentials')

export async function ldapLogin(
  ctx: SsoContext,
  name: string,
  input: { username: string; password: string },
): Promise<SsoSignInResult> {
  await ctx.throttle.hit('login', ctx.audit.ip, () =>
    recordAuditEvent(ctx.db, ctx.audit, {
      eventType: 'auth.rate_limited',
      resourceType: 'endpoint',
      resourceId: 'login',
      action: 'execute',
      outcome: 'failure',
      changes: { address: ctx.audit.ip, provider: name },
    }).then(() => {}),
  )
  const provider = await repo.findEnabledProvider(ctx.db, name, 'ldap')
  if (!provider)
    throw new NotFoundError(`No enabled LDAP provider named ${name}.`, 'identity_provider_not_found')
  const username = input.username.trim()
  // Failures count per account as for local sign-in, keyed by what was typed, known or not.
  const account = `ldap:${name}:${username.toLowerCase()}`
  await ctx.throttle.checkAccount(account)
  let outcome: Awaited<ReturnType<typeof authenticateLdap>>
  try {
    outcome = await authenticateLdap(
      provider.settings,
      await secretsOf(ctx, provider),
      ctx.config.ldapTimeoutMs,
      username,
      input.password,
    )
  } catch (error) {
    if (error instanceof DirectoryUnavailableError)
      await recordSsoFailure(ctx, provider, 'directory_unavailable', {
        username: printable(username),
        cause: error.message,
      })
    throw error
  }
  if (!outcome.ok) {
    const failures = await ctx.throttle.recordFailure(account)
    await recordSsoFailure(ctx, provider, outcome.reason, {
      username: printable(username),
      failuresThisHour: failures,
    })
    throw invalidCredentials()
  }
  await ctx.throttle.recordSuccess(account)
  return completeSignIn(ctx, provider, outcome.identity)
}
