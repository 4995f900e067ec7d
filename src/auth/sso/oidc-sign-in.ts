// The OAuth 2.0 / OIDC browser flow (arctic for the protocol, jose for the ID token): login sends
// the browser to the provider with PKCE (S256), `state` and `nonce`, all three kept in the state
// store (one use, short TTL) with the return path and the browser binding; the callback takes the
// state back once, exchanges the code with the verifier, verifies the ID token (or, for GitHub,
// asks its API), and signs the user in as a password login would.

import { randomBytes } from 'node:crypto'
import {
  ArcticFetchError,
  CodeChallengeMethod,
  generateCodeVerifier,
  generateState,
  OAuth2Client,
  OAuth2RequestError,
  type OAuth2Tokens,
} from 'arctic'
import type { JWTPayload } from 'jose'
import { NotFoundError, UnauthorizedError } from '../../http/errors.ts'
import { withDeadline } from '../../platform/deadline.ts'
import { completeSignIn, recordSsoFailure } from './complete-sign-in.ts'
import { redirectWithCode } from './exchange.ts'
import { GitHubOrganizationError, githubIdentity } from './github.ts'
import {
  hashBinding,
  type OidcStateRecord,
  safeReturnPath,
  sameBinding,
  saveHandshake,
  takeHandshake,
} from './handshakes.ts'
import { fetchJson, ProviderUnavailableError } from './http-fetch.ts'
import { discover, IdTokenError, verifyIdToken } from './oidc.ts'
import { type ClaimNames, effectiveOidc } from './oidc-presets.ts'
import * as repo from './repo.ts'
import { secretsOf } from './service.ts'
import type { ExternalIdentity, IdentityProvider, SsoContext } from './types.ts'
import { redirectUriOf } from './urls.ts'

class OidcRejection extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message)
  }
}

async function enabledProvider(ctx: Pick<SsoContext, 'db'>, name: string) {
  const provider = await repo.findEnabledProvider(ctx.db, name, 'oidc')
  if (!provider)
    throw new NotFoundError(`No enabled OIDC provider named ${name}.`, 'identity_provider_not_found')
  return provider
}

async function clientOf(ctx: SsoContext, provider: IdentityProvider<'oidc'>) {
  const secrets = await secretsOf(ctx, provider)
  const client = new OAuth2Client(
    provider.settings.clientId,
    secrets.clientSecret ?? null,
    redirectUriOf(provider.name, ctx.config),
  )
  const effective = effectiveOidc(provider.settings)
  if (provider.settings.preset === 'github')
    return {
      client,
      authorize: `${effective.webBaseUrl}/login/oauth/authorize`,
      token: `${effective.webBaseUrl}/login/oauth/access_token`,
    }
  const { metadata } = await discover(provider, ctx.config)
  return { client, authorize: metadata.authorization_endpoint, token: metadata.token_endpoint }
}

/** Starts a sign-in: the provider's authorization URL to send the browser to. */
export async function startOidcLogin(
  ctx: SsoContext,
  name: string,
  returnTo: string | undefined,
  binding: string,
): Promise<string> {
  const provider = await enabledProvider(ctx, name)
  await ctx.throttle.hit('sso-login', ctx.audit.ip)
  const { client, authorize } = await clientOf(ctx, provider)
  const state = generateState()
  const codeVerifier = generateCodeVerifier()
  const nonce = randomBytes(24).toString('base64url')
  const url = client.createAuthorizationURLWithPKCE(
    authorize,
    state,
    CodeChallengeMethod.S256,
    codeVerifier,
    effectiveOidc(provider.settings).scopes,
  )
  if (provider.settings.preset !== 'github') url.searchParams.set('nonce', nonce)
  if (provider.settings.hostedDomain) url.searchParams.set('hd', provider.settings.hostedDomain)
  // Ask for amr and acr when they decide MFA (OIDC Core 5.5); providers that send them anyway ignore it.
  if (provider.trustProviderMfa && provider.settings.preset !== 'github')
    url.searchParams.set('claims', JSON.stringify({ id_token: { amr: null, acr: null } }))
  const record: OidcStateRecord = {
    provider: name,
    nonce,
    codeVerifier,
    returnTo: safeReturnPath(returnTo, ctx.config.returnPaths),
    binding: hashBinding(binding),
  }
  await saveHandshake(ctx.state, 'oidc-state', state, record, ctx.config.handshakeTtlMs)
  return url.toString()
}

async function redeemCode(
  ctx: SsoContext,
  provider: IdentityProvider<'oidc'>,
  code: string,
  verifier: string,
) {
  const { client, token } = await clientOf(ctx, provider)
  try {
    return await withDeadline(
      client.validateAuthorizationCode(token, code, verifier),
      ctx.config.httpTimeoutMs,
      () => {},
    )
  } catch (error) {
    if (error instanceof OAuth2RequestError)
      throw new OidcRejection('code_rejected', `The provider refused the authorization code (${error.code}).`)
    if (error instanceof ArcticFetchError || (error as Error).name === 'DeadlineExceededError')
      throw new ProviderUnavailableError(
        `The token endpoint could not be reached: ${(error as Error).message}.`,
      )
    throw new ProviderUnavailableError(
      `The token endpoint answered unexpectedly: ${(error as Error).message}.`,
    )
  }
}

const texts = (value: unknown): string[] =>
  Array.isArray(value) ? value.map(String) : value === undefined || value === null ? [] : [String(value)]

function identityFromClaims(
  payload: JWTPayload,
  names: ClaimNames,
  provider: IdentityProvider<'oidc'>,
): ExternalIdentity {
  const claims = Object.fromEntries(Object.entries(payload).map(([k, v]) => [k, texts(v)]))
  const asserted = [...texts(payload.amr), ...texts(payload.acr)]
  const verified = payload.email_verified
  return {
    externalId: String(payload.sub),
    username: claims[names.username]?.[0],
    email: claims[names.email]?.[0],
    // Linking by email needs the provider's word: email_verified true (or, without the claim,
    // a provider configured as vouching for its emails).
    emailVerified:
      verified === true ||
      verified === 'true' ||
      (verified === undefined && provider.settings.emailsVerified),
    displayName: claims[names.name]?.[0],
    groups: [],
    claims,
    mfaAsserted: asserted.some((value) => provider.settings.mfaValues.includes(value)),
  }
}

async function identityOf(
  ctx: SsoContext,
  provider: IdentityProvider<'oidc'>,
  tokens: OAuth2Tokens,
  nonce: string,
): Promise<ExternalIdentity> {
  const effective = effectiveOidc(provider.settings)
  if (provider.settings.preset === 'github')
    return githubIdentity(effective.apiBaseUrl, tokens.accessToken(), {
      timeoutMs: ctx.config.httpTimeoutMs,
      allowedOrganizations: provider.settings.allowedOrganizations,
    })
  let idToken: string
  try {
    idToken = tokens.idToken()
  } catch {
    throw new OidcRejection(
      'no_id_token',
      'The provider returned no ID token (is the openid scope granted?).',
    )
  }
  const discovered = await discover(provider, ctx.config)
  let payload = await verifyIdToken(idToken, discovered, provider.settings, {
    nonce,
    clockSkewMs: ctx.config.clockSkewMs,
    maxAgeMs: ctx.config.handshakeTtlMs + ctx.config.clockSkewMs,
  })
  if (provider.settings.useUserinfo && discovered.metadata.userinfo_endpoint) {
    const info = await fetchJson<JWTPayload>(
      discovered.metadata.userinfo_endpoint,
      { headers: { Authorization: `Bearer ${tokens.accessToken()}` } },
      ctx.config.httpTimeoutMs,
      'userinfo',
    )
    if (info.sub !== payload.sub)
      throw new OidcRejection('userinfo_sub', 'The userinfo answer is for another user.')
    payload = { ...info, ...payload }
  }
  return identityFromClaims(payload, effective.claims, provider)
}

/** The callback: verifies everything and signs the user in; returns where to redirect. */
export async function acceptOidcCallback(
  ctx: SsoContext,
  name: string,
  query: { code?: string | undefined; state?: string | undefined; error?: string | undefined },
  browser: { binding: string; isNew: boolean },
): Promise<string> {
  const provider = await enabledProvider(ctx, name)
  await ctx.throttle.hit('sso-response', ctx.audit.ip)
  let identity: ExternalIdentity
  let record: OidcStateRecord | null = null
  try {
    if (query.error) throw new OidcRejection('provider_error', `The provider answered ${query.error}.`)
    if (!query.state || !query.code)
      throw new OidcRejection('no_code', 'The callback carries no code or state.')
    record = await takeHandshake<OidcStateRecord>(ctx.state, 'oidc-state', query.state)
    if (!record)
      throw new OidcRejection('unknown_state', 'The sign-in state is unknown, expired or already used.')
    if (record.provider !== name)
      throw new OidcRejection(
        'state_for_other_provider',
        'The state belongs to a sign-in with another provider.',
      )
    if (browser.isNew || !sameBinding(record.binding, browser.binding))
      throw new OidcRejection(
        'browser_mismatch',
        'The callback reached another browser than the one that signed in.',
      )
    const tokens = await redeemCode(ctx, provider, query.code, record.codeVerifier)
    identity = await identityOf(ctx, provider, tokens, record.nonce)
  } catch (error) {
    const rejection =
      error instanceof OidcRejection || error instanceof IdTokenError
        ? error
        : error instanceof GitHubOrganizationError
          ? new OidcRejection(error.reason, error.message)
          : null
    if (!rejection) throw error
    await recordSsoFailure(ctx, provider, rejection.reason)
    ctx.log.warn('OIDC callback refused', { provider: name, reason: rejection.reason })
    throw new UnauthorizedError(rejection.message, 'oidc_callback_rejected')
  }
  const result = await completeSignIn(ctx, provider, identity)
  return redirectWithCode(ctx, name, result, record.returnTo, browser.binding)
}
