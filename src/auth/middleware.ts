// Who is calling (authenticate, on every request) and whether they may (requirePermission, declared
// by every route through `secured`). A bearer credential is either an access token (a JWT) or the
// break-glass PGA_ADMIN_TOKEN (role admin, for automation until API keys exist). An invalid
// credential is remembered, not thrown, so public routes still answer; a route that needs a
// permission then answers 401 with the reason. A refusal for lack of permission is an audit event
// (PCI-DSS 10.2.1.4), at most a few per caller and minute so a loop cannot flood the trail.
import { createHash, timingSafeEqual } from 'node:crypto'
import type { Context, MiddlewareHandler, Next } from 'hono'
import { type Actor, type AuditContext, recordAuditEvent } from '../audit/events.ts'
import { auditContextOf } from '../audit/http-context.ts'
import { ForbiddenError, type ServiceError, UnauthorizedError } from '../http/errors.ts'
import type { Db } from '../platform/db/database.ts'
import type { Logger } from '../platform/log.ts'
import type { StateStore } from '../platform/state/state-store.ts'
import { type ApiKeyResolver, apiKeyPrefix } from './api-keys.ts'
import { accessTokenFromCookie } from './cookies.ts'
import { type ApiKeyRole, type Permission, type Role, roleMay } from './permissions.ts'
import type { AuthenticatedUser, Sessions } from './sessions.ts'

export type Principal =
  | { type: 'user'; id: string; role: Role; session: AuthenticatedUser }
  | { type: 'admin_token'; id: 'admin'; role: 'admin' }
  | { type: 'api_key'; id: string; role: ApiKeyRole; ownerUserId: string | null; instanceId: string | null }

type AuthState = {
  principal?: Principal
  error?: ServiceError
  /** Records a refusal (bounded per caller and minute). */
  denied(c: Context, permission: Permission): Promise<void>
}

declare module 'hono' {
  interface ContextVariableMap {
    auth: AuthState
  }
}

const safeMethods = new Set(['GET', 'HEAD', 'OPTIONS'])
const digest = (text: string) => createHash('sha256').update(text).digest()

export function authenticate(deps: {
  sessions: Sessions
  apiKeys: ApiKeyResolver
  adminToken?: string | undefined
  db: Db
  state: StateStore
  log: Logger
}): MiddlewareHandler {
  const adminDigest = deps.adminToken ? digest(deps.adminToken) : undefined
  const denied = async (c: Context, permission: Permission) => {
    const audit = auditContextOf(c)
    const who = `${audit.actor.type}:${audit.actor.id ?? audit.ip ?? '?'}`
    const count = await deps.state.increment(`auth:denied:${who}`, { ttlMs: 60_000 }).catch(() => 1)
    if (count > 5) return
    await recordDenied(deps.db, audit, c, permission).catch((error) =>
      deps.log.error('could not record a refused request', { error: String(error) }),
    )
  }
  const userPrincipal = async (token: string): Promise<Principal> => {
    const session = await deps.sessions.authenticate(token)
    return { type: 'user', id: session.userId, role: session.role, session }
  }
  /** A cookie carries only an access token. */
  const cookiePrincipal = (c: Context, token: string) => {
    // A cross-site form cannot add this header: with SameSite=Strict, the CSRF defence in depth.
    if (!safeMethods.has(c.req.method) && !c.req.header('X-Requested-With'))
      throw new ForbiddenError(
        'csrf_header_required',
        'Cookie sessions need an X-Requested-With header on changes.',
      )
    return userPrincipal(token)
  }
  /** A bearer credential: the admin token, an API key or an access token. */
  const bearerPrincipal = async (token: string | undefined): Promise<Principal> => {
    if (!token) throw new UnauthorizedError('Use Authorization: Bearer <token>.', 'invalid_token')
    if (adminDigest && !token.includes('.') && timingSafeEqual(digest(token), adminDigest))
      return { type: 'admin_token', id: 'admin', role: 'admin' }
    if (token.startsWith(apiKeyPrefix)) {
      const key = await deps.apiKeys.resolve(token)
      if (!key) throw new UnauthorizedError('The API key is unknown, revoked or expired.', 'invalid_token')
      return {
        type: 'api_key',
        id: key.id,
        role: key.role,
        ownerUserId: key.ownerUserId,
        instanceId: key.instanceId,
      }
    }
    if (!isJwsShape(token)) throw new UnauthorizedError('The bearer token is not valid.', 'invalid_token')
    return userPrincipal(token)
  }
  const withCredential = async (
    c: Context,
    next: Next,
    header: string | undefined,
    cookie: string | undefined,
  ) => {
    const state: AuthState = { denied }
    c.set('auth', state)
    try {
      const principal = cookie
        ? await cookiePrincipal(c, cookie)
        : header
          ? await bearerPrincipal(bearerToken(header))
          : undefined
      if (principal) {
        state.principal = principal
        c.set('actor', actorOf(principal))
      }
    } catch (error) {
      if (!(error instanceof UnauthorizedError || error instanceof ForbiddenError)) throw error
      state.error = error
    }
    await next()
  }
  // Without a credential (probes, public routes, scrapers) there is nothing to await: no async
  // frame, no promise of its own, on the requests that are most of the traffic.
  return (c, next) => {
    const header = c.req.header('Authorization')
    const cookie = header ? undefined : accessTokenFromCookie(c)
    if (header === undefined && cookie === undefined) {
      c.set('auth', { denied })
      return next()
    }
    return withCredential(c, next, header, cookie)
  }
}

/** The credential of `Authorization: Bearer <token>`; undefined for another scheme, an empty
 * token or one with whitespace. Without a regular expression: it runs on every request, over
 * access tokens of several hundred characters. */
export function bearerToken(header: string): string | undefined {
  if (!header.startsWith('Bearer ') || header.length === 7) return undefined
  for (let i = 7; i < header.length; i++) {
    const code = header.charCodeAt(i)
    if (code <= 32 || code >= 127) return whitespaceFree(header.slice(7))
  }
  return header.slice(7)
}

/** The rare token with a character outside printable ASCII: the general whitespace test decides. */
const whitespaceFree = (token: string) => (/\s/.test(token) ? undefined : token)

/** Three dot-separated parts, as a compact JWS (the signature check says the rest). */
const isJwsShape = (token: string) => {
  const first = token.indexOf('.')
  const second = first < 0 ? -1 : token.indexOf('.', first + 1)
  return second > 0 && token.indexOf('.', second + 1) < 0
}

/** The audit actor of a principal. */
const actorOf = (principal: Principal): Actor =>
  principal.type === 'user'
    ? { type: 'user', id: principal.id, sessionId: principal.session.sessionId }
    : { type: principal.type, id: principal.id }

export function requirePermission(permission: Permission): MiddlewareHandler {
  return async (c, next) => {
    const auth = c.get('auth')
    const principal = auth?.principal
    if (!principal) {
      c.header('WWW-Authenticate', 'Bearer realm="pganalytics"')
      throw auth?.error ?? new UnauthorizedError('Sign in first: Authorization: Bearer <access token>.')
    }
    if (principal.type === 'user' && principal.session.restricted && permission !== 'account:self')
      throw new ForbiddenError(
        'mfa_enrollment_required',
        'Your role requires MFA: enroll at POST /api/v1/auth/mfa/enroll before anything else.',
      )
    if (!roleMay(principal.role, permission)) {
      await auth.denied(c, permission)
      throw new ForbiddenError('permission_denied', `The ${principal.role} role does not have ${permission}.`)
    }
    await next()
  }
}

async function recordDenied(db: Db, audit: AuditContext, c: Context, permission: Permission) {
  await recordAuditEvent(db, audit, {
    eventType: 'auth.access_denied',
    resourceType: 'route',
    resourceId: `${c.req.method} ${c.req.routePath}`,
    action: 'execute',
    outcome: 'failure',
    changes: { permission, path: c.req.path },
  })
}

/** The route options that declare and enforce a permission (OpenAPI `x-permission`). */
export function secured(permission: Permission) {
  return {
    security: [{ bearer: [] as string[] }],
    'x-permission': permission,
    middleware: [requirePermission(permission)],
  }
}

/** The signed-in user of a request that passed requirePermission, or 401. */
export function callerOf(c: Context): AuthenticatedUser {
  const principal = c.get('auth')?.principal
  if (principal?.type !== 'user')
    throw new UnauthorizedError(
      'This needs a user’s access token (not the admin token).',
      'user_token_required',
    )
  return principal.session
}

/** The principal of a request that passed requirePermission. */
export function principalOf(c: Context): Principal {
  const principal = c.get('auth')?.principal
  if (!principal) throw new UnauthorizedError()
  return principal
}
