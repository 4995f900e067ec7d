// Public SSO sign-in routes: the providers a login page offers, LDAP login, SAML (SP metadata,
// SP-initiated login, ACS), OIDC (login, callback) and the one-time code exchange. Browser flows
// carry a random binding cookie (HttpOnly, Secure, SameSite=None so the IdP's cross-site POST to
// the ACS brings it back) that ties each handshake to the browser that started it.
import { randomBytes } from 'node:crypto'
import { createRoute, z } from '@hono/zod-openapi'
import type { Context } from 'hono'
import { getCookie, setCookie } from 'hono/cookie'
import type { AppDeps } from '../../deps.ts'
import { createRouter, errorResponses, jsonContent } from '../../http/openapi.ts'
import { setSessionCookies } from '../cookies.ts'
import { LoginResponseSchema } from '../schemas.ts'
import type { SsoSignInResult } from './complete-sign-in.ts'
import { exchangeCode } from './exchange.ts'
import { bindingCookie } from './handshakes.ts'
import { ssoContext } from './routes.ts'
import {
  ExchangeInputSchema,
  LdapLoginInputSchema,
  OidcCallbackQuery,
  ProviderNameParams,
  PublicProviderListSchema,
  ReturnToQuery,
  SamlAcsFormSchema,
} from './schemas.ts'
import { publicProviders } from './service.ts'

// Each protocol's flow, with its library (ldapts, arctic, samlify and its XML stack), loads with
// its first sign-in: a replica that never sees one never evaluates them.
const ldapSignIn = () => import('./ldap-sign-in.ts')
const samlSignIn = () => import('./saml-sign-in.ts')
const oidcSignIn = () => import('./oidc-sign-in.ts')

const tags = ['Authentication']
const redirect = (description: string) => ({
  description,
  headers: { Location: { schema: { type: 'string' as const }, description: 'Where the browser goes next.' } },
})
const redirectAfterSignIn = redirect(
  'Signed in: back to the page asked for, with a one-time `#sso_code=` fragment to POST to /api/v1/auth/exchange.',
)

const providersRoute = createRoute({
  method: 'get',
  path: '/api/v1/auth/providers',
  operationId: 'listSignInProviders',
  tags,
  security: [],
  summary: 'Enabled identity providers, for a login page',
  responses: { 200: { description: 'Providers.', content: jsonContent(PublicProviderListSchema) } },
})
const ldapLoginRoute = createRoute({
  method: 'post',
  path: '/api/v1/auth/ldap/{name}/login',
  operationId: 'loginWithLdap',
  tags,
  security: [],
  summary: 'Sign in with a directory username and password (LDAP / Active Directory)',
  request: {
    params: ProviderNameParams,
    body: { required: true, content: jsonContent(LdapLoginInputSchema) },
  },
  responses: {
    200: { description: 'As POST /api/v1/auth/login.', content: jsonContent(LoginResponseSchema) },
    ...errorResponses(400, 401, 403, 404, 409, 429, 503),
  },
})
const samlMetadataRoute = createRoute({
  method: 'get',
  path: '/api/v1/auth/saml/{name}/metadata',
  operationId: 'samlServiceProviderMetadata',
  tags,
  security: [],
  summary: 'This service’s SAML SP metadata for the provider (entity id, ACS, signing certificate)',
  request: { params: ProviderNameParams },
  responses: {
    200: {
      description: 'SAML metadata.',
      content: { 'application/samlmetadata+xml': { schema: z.string() } },
    },
    ...errorResponses(400, 404),
  },
})
const samlLoginRoute = createRoute({
  method: 'get',
  path: '/api/v1/auth/saml/{name}/login',
  operationId: 'startSamlLogin',
  tags,
  security: [],
  summary: 'Start an SP-initiated SAML sign-in (HTTP-Redirect to the identity provider)',
  request: { params: ProviderNameParams, query: ReturnToQuery },
  responses: {
    302: redirect('To the identity provider with an AuthnRequest.'),
    ...errorResponses(400, 404, 429, 503),
  },
})
const samlAcsRoute = createRoute({
  method: 'post',
  path: '/api/v1/auth/saml/{name}/acs',
  operationId: 'samlAssertionConsumerService',
  tags,
  security: [],
  summary: 'SAML Assertion Consumer Service (HTTP-POST binding)',
  request: {
    params: ProviderNameParams,
    body: { required: true, content: { 'application/x-www-form-urlencoded': { schema: SamlAcsFormSchema } } },
  },
  responses: { 303: redirectAfterSignIn, ...errorResponses(400, 401, 403, 404, 409, 429, 503) },
})
const oidcLoginRoute = createRoute({
  method: 'get',
  path: '/api/v1/auth/oidc/{name}/login',
  operationId: 'startOidcLogin',
  tags,
  security: [],
  summary: 'Start an OAuth 2.0 / OIDC sign-in (authorization code with PKCE)',
  request: { params: ProviderNameParams, query: ReturnToQuery },
  responses: {
    302: redirect('To the provider’s authorization endpoint.'),
    ...errorResponses(400, 404, 429, 503),
  },
})
const oidcCallbackRoute = createRoute({
  method: 'get',
  path: '/api/v1/auth/oidc/{name}/callback',
  operationId: 'oidcCallback',
  tags,
  security: [],
  summary: 'OAuth 2.0 / OIDC redirect URI',
  request: { params: ProviderNameParams, query: OidcCallbackQuery },
  responses: { 303: redirectAfterSignIn, ...errorResponses(400, 401, 403, 404, 409, 429, 503) },
})
const exchangeRoute = createRoute({
  method: 'post',
  path: '/api/v1/auth/exchange',
  operationId: 'exchangeSsoCode',
  tags,
  security: [],
  summary: 'Exchange the one-time code of a SAML or OIDC sign-in (same browser) for tokens or cookies',
  request: { body: { required: true, content: jsonContent(ExchangeInputSchema) } },
  responses: {
    200: { description: 'As POST /api/v1/auth/login.', content: jsonContent(LoginResponseSchema) },
    ...errorResponses(400, 401, 429, 503),
  },
})

/** The browser's SSO binding cookie, created when it has none. */
function browserBinding(c: Context): { binding: string; isNew: boolean } {
  const existing = getCookie(c, bindingCookie)
  if (existing && /^[A-Za-z0-9_-]{32}$/.test(existing)) return { binding: existing, isNew: false }
  const binding = randomBytes(24).toString('base64url')
  setCookie(c, bindingCookie, binding, {
    httpOnly: true,
    secure: true,
    sameSite: 'None',
    path: '/api/v1/auth',
    maxAge: 86_400,
  })
  return { binding, isNew: true }
}

export function ssoSignInRoutes(deps: AppDeps) {
  const router = createRouter()
  const ctx = (c: Context) => ssoContext(deps, c)
  const refreshMaxAge = () => Math.floor(deps.auth.sessions.settings.absoluteTimeoutMs / 1000)
  /** The answer of a password login for an SSO result (tokens, cookies or the MFA challenge). */
  const loginAnswer = (c: Context, result: SsoSignInResult, session: 'token' | 'cookie') => {
    if (result.kind === 'mfa') return result.challenge
    const body = {
      ...result.tokens,
      user: result.user,
      mfa_enrollment_required: result.mfaEnrollmentRequired,
    }
    if (session !== 'cookie') return body
    const cookies = setSessionCookies(c, result.tokens, refreshMaxAge())
    return { ...cookies, user: result.user, mfa_enrollment_required: result.mfaEnrollmentRequired }
  }

  router.openapi(providersRoute, async (c) => c.json({ items: await publicProviders(ctx(c)) }, 200))
  router.openapi(ldapLoginRoute, async (c) => {
    const { session, ...credentials } = c.req.valid('json')
    const { ldapLogin } = await ldapSignIn()
    const result = await ldapLogin(ctx(c), c.req.valid('param').name, credentials)
    return c.json(loginAnswer(c, result, session), 200)
  })
  router.openapi(samlMetadataRoute, async (c) => {
    const { spMetadata } = await samlSignIn()
    return c.body(await spMetadata(ctx(c), c.req.valid('param').name), 200, {
      'Content-Type': 'application/samlmetadata+xml',
    })
  })
  router.openapi(samlLoginRoute, async (c) => {
    const { binding } = browserBinding(c)
    const { startSamlLogin } = await samlSignIn()
    const url = await startSamlLogin(
      ctx(c),
      c.req.valid('param').name,
      c.req.valid('query').returnTo,
      binding,
    )
    return c.redirect(url, 302)
  })
  router.openapi(samlAcsRoute, async (c) => {
    const { acceptSamlResponse } = await samlSignIn()
    const location = await acceptSamlResponse(
      ctx(c),
      c.req.valid('param').name,
      c.req.valid('form'),
      browserBinding(c),
    )
    return c.redirect(location, 303)
  })
  router.openapi(oidcLoginRoute, async (c) => {
    const { binding } = browserBinding(c)
    const { startOidcLogin } = await oidcSignIn()
    const url = await startOidcLogin(
      ctx(c),
      c.req.valid('param').name,
      c.req.valid('query').returnTo,
      binding,
    )
    return c.redirect(url, 302)
  })
  router.openapi(oidcCallbackRoute, async (c) => {
    const { acceptOidcCallback } = await oidcSignIn()
    const location = await acceptOidcCallback(
      ctx(c),
      c.req.valid('param').name,
      c.req.valid('query'),
      browserBinding(c),
    )
    return c.redirect(location, 303)
  })
  router.openapi(exchangeRoute, async (c) => {
    const { code, session } = c.req.valid('json')
    const result = await exchangeCode(ctx(c), code, getCookie(c, bindingCookie))
    if (session === 'cookie' && 'access_token' in result) {
      // The CookieSession shape: the tokens (and their type) went into the cookies.
      const { access_token: _, refresh_token: __, token_type: ___, ...rest } = result
      return c.json({ ...rest, ...setSessionCookies(c, result, refreshMaxAge()) } as never, 200)
    }
    return c.json(result, 200)
  })
  return router
}
