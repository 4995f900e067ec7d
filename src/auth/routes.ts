// Authentication, the caller's own account and sessions, users for administrators, and the JWKS.
import { createRoute } from '@hono/zod-openapi'
import type { Context } from 'hono'
import { auditContextOf } from '../audit/http-context.ts'
import type { AppDeps } from '../deps.ts'
import { NotFoundError, UnauthorizedError } from '../http/errors.ts'
import { createRouter, errorResponses, idempotent, jsonContent } from '../http/openapi.ts'
import * as apiKeys from './api-keys.ts'
import { clearSessionCookies, refreshTokenFromCookie, setSessionCookies } from './cookies.ts'
import * as mfa from './mfa.ts'
import { callerOf, principalOf, secured } from './middleware.ts'
import { roleMay } from './permissions.ts'
import {
  ApiKeyListSchema,
  BackupCodesSchema,
  ChangePasswordInputSchema,
  CreateApiKeyInputSchema,
  CreatedApiKeySchema,
  CreateUserInputSchema,
  EndedSessionsSchema,
  IdParams,
  JwksSchema,
  LoginInputSchema,
  LoginResponseSchema,
  MfaConfirmInputSchema,
  MfaDisableInputSchema,
  MfaEnrollmentSchema,
  MfaPolicySchema,
  MfaVerifyInputSchema,
  RefreshInputSchema,
  ResetPasswordInputSchema,
  SessionListSchema,
  SessionResponseSchema,
  SetupInputSchema,
  SigningKeyRotationSchema,
  TokenResponseSchema,
  UpdateUserInputSchema,
  UserListSchema,
  UserSchema,
} from './schemas.ts'
import * as account from './service.ts'
import { publishedKeys } from './token-keys.ts'
import * as users from './users.ts'

const tags = ['Authentication']
const userTags = ['Users']

const setup = createRoute({
  method: 'post',
  path: '/api/v1/auth/setup',
  operationId: 'completeSetup',
  tags,
  security: [],
  summary: 'Create the first administrator with the one-time setup token printed at start',
  request: { body: { required: true, content: jsonContent(SetupInputSchema) } },
  responses: {
    201: { description: 'The administrator.', content: jsonContent(UserSchema) },
    ...errorResponses(400, 403, 429, 503),
  },
})
const login = createRoute({
  method: 'post',
  path: '/api/v1/auth/login',
  operationId: 'login',
  tags,
  security: [],
  summary: 'Sign in with email and password',
  request: { body: { required: true, content: jsonContent(LoginInputSchema) } },
  responses: {
    200: {
      description: 'Tokens (OAuth 2.0 token response) and the user.',
      content: jsonContent(LoginResponseSchema),
    },
    ...errorResponses(400, 401, 429, 503),
  },
})
const refresh = createRoute({
  method: 'post',
  path: '/api/v1/auth/refresh',
  operationId: 'refreshTokens',
  tags,
  security: [],
  summary: 'Exchange a refresh token for new tokens (the old refresh token stops working)',
  request: { body: { required: false, content: jsonContent(RefreshInputSchema) } },
  responses: {
    200: {
      description: 'New tokens (or new cookies).',
      content: jsonContent(SessionResponseSchema),
    },
    ...errorResponses(400, 401, 429),
  },
})
const logout = createRoute({
  method: 'post',
  path: '/api/v1/auth/logout',
  operationId: 'logout',
  tags,
  ...secured('account:self'),
  summary: 'End this session; the access token stops working at once',
  responses: { 204: { description: 'Signed out.' }, ...errorResponses(401) },
})
const me = createRoute({
  method: 'get',
  path: '/api/v1/auth/me',
  operationId: 'me',
  tags,
  ...secured('account:self'),
  summary: 'The signed-in user',
  responses: { 200: { description: 'The user.', content: jsonContent(UserSchema) }, ...errorResponses(401) },
})
const changePassword = createRoute({
  method: 'post',
  path: '/api/v1/auth/change-password',
  operationId: 'changePassword',
  tags,
  ...secured('account:self'),
  summary: 'Change the password (the current one is required); other sessions end',
  request: { body: { required: true, content: jsonContent(ChangePasswordInputSchema) } },
  responses: {
    200: { description: 'New tokens for this session.', content: jsonContent(TokenResponseSchema) },
    ...errorResponses(400, 401, 403, 503),
  },
})
const mySessions = createRoute({
  method: 'get',
  path: '/api/v1/auth/sessions',
  operationId: 'listMySessions',
  tags,
  ...secured('account:self'),
  summary: 'The signed-in user’s sessions',
  responses: {
    200: { description: 'Sessions.', content: jsonContent(SessionListSchema) },
    ...errorResponses(401),
  },
})
const endSession = createRoute({
  method: 'delete',
  path: '/api/v1/auth/sessions/{id}',
  operationId: 'endSession',
  tags,
  ...secured('account:self'),
  summary: 'End one session (one’s own; administrators may end anyone’s)',
  request: { params: IdParams },
  responses: { 204: { description: 'Ended.' }, ...errorResponses(400, 401, 404) },
})
const jwks = createRoute({
  method: 'get',
  path: '/.well-known/jwks.json',
  operationId: 'jwks',
  tags,
  security: [],
  summary: 'Public keys that verify access tokens (JWKS)',
  responses: { 200: { description: 'The key set.', content: jsonContent(JwksSchema) } },
})

const mfaEnroll = createRoute({
  method: 'post',
  path: '/api/v1/auth/mfa/enroll',
  operationId: 'startMfaEnrollment',
  tags,
  ...secured('account:self'),
  summary: 'Start TOTP enrollment: a secret, its otpauth URI and QR codes (nothing changes until confirmed)',
  responses: {
    200: { description: 'The secret to add to an authenticator.', content: jsonContent(MfaEnrollmentSchema) },
    ...errorResponses(401, 409),
  },
})
const mfaConfirm = createRoute({
  method: 'post',
  path: '/api/v1/auth/mfa/confirm',
  operationId: 'confirmMfaEnrollment',
  tags,
  ...secured('account:self'),
  summary: 'Confirm enrollment with a first code; returns 10 single-use backup codes, shown once',
  request: { body: { required: true, content: jsonContent(MfaConfirmInputSchema) } },
  responses: {
    200: { description: 'MFA is on.', content: jsonContent(BackupCodesSchema) },
    ...errorResponses(400, 401, 409),
  },
})
const mfaVerify = createRoute({
  method: 'post',
  path: '/api/v1/auth/mfa/verify',
  operationId: 'verifyMfa',
  tags,
  security: [],
  summary: 'Second sign-in step: the challenge from login and a TOTP or backup code',
  request: { body: { required: true, content: jsonContent(MfaVerifyInputSchema) } },
  responses: {
    200: {
      description: 'Tokens (or cookies).',
      content: jsonContent(SessionResponseSchema),
    },
    ...errorResponses(400, 401, 429),
  },
})
const mfaDisable = createRoute({
  method: 'post',
  path: '/api/v1/auth/mfa/disable',
  operationId: 'disableMfa',
  tags,
  ...secured('account:self'),
  summary: 'Turn MFA off (the password and a code are required)',
  request: { body: { required: true, content: jsonContent(MfaDisableInputSchema) } },
  responses: { 204: { description: 'MFA is off.' }, ...errorResponses(400, 401, 403, 503) },
})
const getMfaPolicy = createRoute({
  method: 'get',
  path: '/api/v1/auth/mfa-policy',
  operationId: 'getMfaPolicy',
  tags,
  ...secured('users:read'),
  summary: 'Roles whose members must use MFA',
  responses: {
    200: { description: 'The policy.', content: jsonContent(MfaPolicySchema) },
    ...errorResponses(401, 403),
  },
})
const putMfaPolicy = createRoute({
  method: 'put',
  path: '/api/v1/auth/mfa-policy',
  operationId: 'setMfaPolicy',
  tags,
  ...secured('users:manage'),
  summary: 'Set the roles whose members must use MFA',
  request: { body: { required: true, content: jsonContent(MfaPolicySchema) } },
  responses: {
    200: { description: 'The policy.', content: jsonContent(MfaPolicySchema) },
    ...errorResponses(400, 401, 403),
  },
})
const rotateTokenKey = createRoute({
  method: 'post',
  path: '/api/v1/admin/token-keys/rotate',
  operationId: 'rotateTokenSigningKey',
  tags,
  ...secured('keys:manage'),
  ...idempotent,
  summary: 'Sign new access tokens with a new key; tokens signed by the old one stay valid until they expire',
  responses: {
    200: { description: 'The new key id.', content: jsonContent(SigningKeyRotationSchema) },
    ...errorResponses(401, 403, 409, 422),
  },
})

const createKey = createRoute({
  method: 'post',
  path: '/api/v1/api-keys',
  operationId: 'createApiKey',
  tags,
  ...secured('account:self'),
  ...idempotent,
  summary: 'Create an API key acting for the caller with at most the caller’s rights (shown once)',
  request: { body: { required: true, content: jsonContent(CreateApiKeyInputSchema) } },
  responses: {
    201: { description: 'The key.', content: jsonContent(CreatedApiKeySchema) },
    ...errorResponses(400, 401, 403, 404, 409, 422),
  },
})
const listKeys = createRoute({
  method: 'get',
  path: '/api/v1/api-keys',
  operationId: 'listApiKeys',
  tags,
  ...secured('account:self'),
  summary: 'API keys: the caller’s own (all of them for those who manage users)',
  responses: {
    200: { description: 'Keys (never the secrets).', content: jsonContent(ApiKeyListSchema) },
    ...errorResponses(401),
  },
})
const revokeKey = createRoute({
  method: 'delete',
  path: '/api/v1/api-keys/{id}',
  operationId: 'revokeApiKey',
  tags,
  ...secured('account:self'),
  summary: 'Revoke an API key (one’s own; administrators any)',
  request: { params: IdParams },
  responses: { 204: { description: 'Revoked.' }, ...errorResponses(400, 401, 404) },
})

const listUsers = createRoute({
  method: 'get',
  path: '/api/v1/users',
  operationId: 'listUsers',
  tags: userTags,
  ...secured('users:read'),
  summary: 'Users',
  responses: {
    200: { description: 'Users.', content: jsonContent(UserListSchema) },
    ...errorResponses(401, 403),
  },
})
const getUser = createRoute({
  method: 'get',
  path: '/api/v1/users/{id}',
  operationId: 'getUser',
  tags: userTags,
  ...secured('users:read'),
  summary: 'One user',
  request: { params: IdParams },
  responses: {
    200: { description: 'The user.', content: jsonContent(UserSchema) },
    ...errorResponses(400, 401, 403, 404),
  },
})
const createUser = createRoute({
  method: 'post',
  path: '/api/v1/users',
  operationId: 'createUser',
  tags: userTags,
  ...secured('users:manage'),
  ...idempotent,
  summary: 'Create a local user',
  request: { body: { required: true, content: jsonContent(CreateUserInputSchema) } },
  responses: {
    201: { description: 'The user.', content: jsonContent(UserSchema) },
    ...errorResponses(400, 401, 403, 409, 422, 503),
  },
})
const updateUser = createRoute({
  method: 'patch',
  path: '/api/v1/users/{id}',
  operationId: 'updateUser',
  tags: userTags,
  ...secured('users:manage'),
  summary: 'Change a user’s role, name or status (disabling ends their sessions; a role applies at once)',
  request: { params: IdParams, body: { required: true, content: jsonContent(UpdateUserInputSchema) } },
  responses: {
    200: { description: 'The user.', content: jsonContent(UserSchema) },
    ...errorResponses(400, 401, 403, 404),
  },
})
const resetPassword = createRoute({
  method: 'post',
  path: '/api/v1/users/{id}/reset-password',
  operationId: 'resetUserPassword',
  tags: userTags,
  ...secured('users:manage'),
  summary: 'Set a new password for a user; their sessions end',
  request: { params: IdParams, body: { required: true, content: jsonContent(ResetPasswordInputSchema) } },
  responses: { 204: { description: 'Set.' }, ...errorResponses(400, 401, 403, 404, 503) },
})
const endUserSessions = createRoute({
  method: 'delete',
  path: '/api/v1/users/{id}/sessions',
  operationId: 'endUserSessions',
  tags: userTags,
  ...secured('users:manage'),
  summary: 'End every session and token of a user',
  request: { params: IdParams },
  responses: {
    200: { description: 'How many sessions ended.', content: jsonContent(EndedSessionsSchema) },
    ...errorResponses(400, 401, 403, 404),
  },
})

export function authRoutes(deps: AppDeps) {
  const router = createRouter()
  const { sessions, accountSettings: settings, throttle } = deps.auth
  const ctx = (c: Context) => ({
    db: deps.db.sql,
    state: deps.state,
    keyring: () => deps.keys.keyring(),
    issuer: deps.config.auth.issuer,
    sessions,
    settings,
    throttle,
    audit: auditContextOf(c),
  })

  router.openapi(setup, async (c) => c.json(await account.completeSetup(ctx(c), c.req.valid('json')), 201))
  const refreshMaxAge = () => Math.floor(sessions.settings.absoluteTimeoutMs / 1000)
  router.openapi(login, async (c) => {
    const { session, ...credentials } = c.req.valid('json')
    const result = await account.login(ctx(c), credentials)
    if (session === 'cookie' && 'access_token' in result) {
      // The CookieSession shape: the tokens (and their type) went into the cookies.
      const { access_token: _, refresh_token: __, token_type: ___, ...rest } = result
      return c.json({ ...rest, ...setSessionCookies(c, result, refreshMaxAge()) }, 200)
    }
    return c.json(result, 200)
  })
  router.openapi(refresh, async (c) => {
    const fromCookie = refreshTokenFromCookie(c)
    const presented = c.req.valid('json')?.refresh_token ?? fromCookie
    if (!presented) throw new UnauthorizedError('Send refresh_token, or the refresh cookie.', 'invalid_token')
    const tokens = await account.refresh(ctx(c), presented)
    return presented === fromCookie
      ? c.json(setSessionCookies(c, tokens, refreshMaxAge()) as never, 200)
      : c.json(tokens, 200)
  })
  router.openapi(logout, async (c) => {
    await account.logout(ctx(c), callerOf(c))
    clearSessionCookies(c)
    return c.body(null, 204)
  })
  router.openapi(me, async (c) => c.json(await account.me(ctx(c), callerOf(c)), 200))
  router.openapi(changePassword, async (c) =>
    c.json(await account.changePassword(ctx(c), callerOf(c), c.req.valid('json')), 200),
  )
  router.openapi(mySessions, async (c) => {
    const caller = callerOf(c)
    return c.json({ items: await account.listSessions(ctx(c), caller.userId, caller.sessionId) }, 200)
  })
  router.openapi(endSession, async (c) => {
    const caller = callerOf(c)
    await account.endSession(
      ctx(c),
      { userId: caller.userId, mayManageUsers: roleMay(caller.role, 'users:manage') },
      c.req.valid('param').id,
    )
    return c.body(null, 204)
  })
  router.openapi(jwks, async (c) =>
    c.json({ keys: await publishedKeys(deps.db.sql, sessions.settings.accessTokenTtlMs) }, 200),
  )

  router.openapi(mfaEnroll, async (c) => {
    const user = await account.me(ctx(c), callerOf(c))
    return c.json(await mfa.startEnrollment(ctx(c), user), 200)
  })
  router.openapi(mfaConfirm, async (c) => {
    const caller = callerOf(c)
    return c.json(
      await mfa.confirmEnrollment(ctx(c), { id: caller.userId }, c.req.valid('json').code, caller.sessionId),
      200,
    )
  })
  router.openapi(mfaVerify, async (c) => {
    const { session, ...input } = c.req.valid('json')
    const tokens = await mfa.completeChallenge(ctx(c), input)
    return session === 'cookie'
      ? c.json(setSessionCookies(c, tokens, refreshMaxAge()) as never, 200)
      : c.json(tokens, 200)
  })
  router.openapi(mfaDisable, async (c) => {
    const user = await users.findUser(deps.db.sql, callerOf(c).userId)
    if (!user) throw new NotFoundError('No such user.')
    await mfa.disableMfa(ctx(c), user, c.req.valid('json'))
    return c.body(null, 204)
  })
  router.openapi(getMfaPolicy, async (c) =>
    c.json({ rolesRequiringMfa: await mfa.rolesRequiringMfa(deps.db.sql) }, 200),
  )
  router.openapi(putMfaPolicy, async (c) =>
    c.json(
      {
        rolesRequiringMfa: await mfa.setRolesRequiringMfa(
          deps.db.sql,
          auditContextOf(c),
          c.req.valid('json').rolesRequiringMfa,
        ),
      },
      200,
    ),
  )
  router.openapi(rotateTokenKey, async (c) => c.json({ kid: await account.rotateTokenKey(ctx(c)) }, 200))

  // Keys act for a user: the owner is the signed-in user (null with the admin token or a key).
  const keyOwner = (c: Context) => {
    const principal = principalOf(c)
    return {
      role: principal.role,
      userId:
        principal.type === 'user'
          ? principal.id
          : principal.type === 'api_key'
            ? principal.ownerUserId
            : null,
      seesAll: roleMay(principal.role, 'users:manage'),
    }
  }
  router.openapi(createKey, async (c) =>
    c.json(await apiKeys.createApiKey(deps.db.sql, auditContextOf(c), keyOwner(c), c.req.valid('json')), 201),
  )
  router.openapi(listKeys, async (c) => {
    const owner = keyOwner(c)
    if (!owner.seesAll && owner.userId === null) return c.json({ items: [] }, 200)
    return c.json({ items: await apiKeys.listApiKeys(deps.db.sql, owner.seesAll ? null : owner.userId) }, 200)
  })
  router.openapi(revokeKey, async (c) => {
    const owner = keyOwner(c)
    if (!owner.seesAll && owner.userId === null) throw new NotFoundError('No such API key.')
    await apiKeys.revokeApiKey(
      deps.db.sql,
      auditContextOf(c),
      c.req.valid('param').id,
      owner.seesAll ? null : owner.userId,
    )
    await deps.auth.cacheEpoch.bump()
    return c.body(null, 204)
  })

  router.openapi(listUsers, async (c) => c.json({ items: await users.listUsers(deps.db.sql) }, 200))
  router.openapi(getUser, async (c) => {
    const user = await users.findUser(deps.db.sql, c.req.valid('param').id)
    if (!user) throw new NotFoundError('No such user.')
    return c.json(users.publicUser(user), 200)
  })
  router.openapi(createUser, async (c) =>
    c.json(await users.createUser(deps.db.sql, auditContextOf(c), c.req.valid('json'), settings), 201),
  )
  router.openapi(updateUser, async (c) => {
    const { id } = c.req.valid('param')
    const { user, endSessions } = await users.updateUser(
      deps.db.sql,
      auditContextOf(c),
      id,
      c.req.valid('json'),
    )
    if (endSessions) await sessions.revokeAllOf(id, 'user_disabled')
    else sessions.forgetUser(id)
    // A disabled user's API keys, or a lowered role, must not outlive the other replicas' caches.
    await deps.auth.cacheEpoch.bump()
    return c.json(user, 200)
  })
  router.openapi(resetPassword, async (c) => {
    await account.resetPassword(ctx(c), c.req.valid('param').id, c.req.valid('json').password)
    return c.body(null, 204)
  })
  router.openapi(endUserSessions, async (c) =>
    c.json({ ended: await account.endAllSessions(ctx(c), c.req.valid('param').id) }, 200),
  )
  return router
}
