// The context SSO verbs run in, from the composition root's dependencies: for a request (its
// audit context) or for the service itself (start-up, scheduled syncs).
import type { AuditContext } from '../../audit/events.ts'
import type { AppDeps } from '../../deps.ts'
import type { SsoContext } from './types.ts'

export function ssoContextFrom(deps: AppDeps, audit: AuditContext): SsoContext {
  return {
    db: deps.db.sql,
    state: deps.state,
    keyring: () => deps.keys.keyring(),
    sessions: deps.auth.sessions,
    throttle: deps.auth.throttle,
    config: deps.config.sso,
    log: deps.log,
    audit,
    issuer: deps.config.auth.issuer,
  }
}
