// The OAuth 2.0 / OpenID Connect adapter: discovery (issuer -> metadata -> JWKS, the issuer in the
// metadata must be the configured one), cached per provider version; ID token verification with
// jose against the provider's JWKS (iss, aud, exp, iat, nonce, azp when several audiences, an
// algorithm allow-list); configuration checks and a test. GitHub (OAuth 2.0 only) is github.ts;
// the browser flow is oidc-sign-in.ts.
import { createRemoteJWKSet, type JWTPayload, errors as joseErrors, jwtVerify } from 'jose'
import type { FieldProblem } from '../../http/errors.ts'
import type { SsoConfig } from './config.ts'
import { fetchJson, ProviderUnavailableError, requireSecureUrl } from './http-fetch.ts'
import { effectiveOidc, oidcPresets } from './oidc-presets.ts'
import type { OidcSettings } from './settings.ts'
import type { IdentityProvider, ProviderAdapter, TestStep } from './types.ts'
import { oidcPath } from './urls.ts'

export type Discovery = {
  issuer: string
  authorization_endpoint: string
  token_endpoint: string
  jwks_uri: string
  userinfo_endpoint?: string
  code_challenge_methods_supported?: string[]
}
type Discovered = { at: number; metadata: Discovery; jwks: ReturnType<typeof createRemoteJWKSet> }
const discoveryCache = new Map<string, Discovered>()
const discoveryTtlMs = 3_600_000

/** The provider's metadata and key set (cached for an hour per provider version). */
export async function discover(provider: IdentityProvider<'oidc'>, config: SsoConfig): Promise<Discovered> {
  const key = `${provider.id}:${provider.updatedAt}`
  const cached = discoveryCache.get(key)
  if (cached && Date.now() - cached.at < discoveryTtlMs) return cached
  const issuer = effectiveOidc(provider.settings).issuer as string
  const metadata = await fetchJson<Discovery>(
    `${issuer}/.well-known/openid-configuration`,
    {},
    config.httpTimeoutMs,
    'discovery',
  )
  if (metadata.issuer !== issuer)
    throw new ProviderUnavailableError(
      `The discovery document names issuer ${metadata.issuer}, not ${issuer}.`,
    )
  for (const field of ['authorization_endpoint', 'token_endpoint', 'jwks_uri'] as const) {
    const problem = typeof metadata[field] === 'string' ? requireSecureUrl(metadata[field]) : 'missing'
    if (problem) throw new ProviderUnavailableError(`The discovery document's ${field} ${problem}.`)
  }
  const jwks = createRemoteJWKSet(new URL(metadata.jwks_uri), {
    timeoutDuration: config.httpTimeoutMs,
    cooldownDuration: 30_000,
    cacheMaxAge: 600_000,
  })
  const discovered = { at: Date.now(), metadata, jwks }
  if (discoveryCache.size > 100) discoveryCache.clear()
  discoveryCache.set(key, discovered)
  return discovered
}

/** Why an ID token was refused (for the audit trail and the answer). */
export class IdTokenError extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message)
  }
}

function idTokenProblem(error: unknown): IdTokenError {
  if (error instanceof IdTokenError) return error
  if (error instanceof joseErrors.JWTExpired)
    return new IdTokenError('id_token_expired', 'The ID token has expired.')
  if (error instanceof joseErrors.JWTClaimValidationFailed)
    return new IdTokenError(`id_token_${error.claim}`, `The ID token's ${error.claim} claim is not valid.`)
  if (error instanceof joseErrors.JOSEAlgNotAllowed)
    return new IdTokenError(
      'id_token_algorithm',
      'The ID token is signed with an algorithm that is not allowed.',
    )
  if (
    error instanceof joseErrors.JWSSignatureVerificationFailed ||
    error instanceof joseErrors.JWKSNoMatchingKey
  )
    return new IdTokenError('id_token_signature', 'The ID token is not signed by the provider.')
  if (error instanceof joseErrors.JWKSTimeout || error instanceof TypeError)
    throw new ProviderUnavailableError('The provider’s key set could not be fetched.')
  return new IdTokenError('id_token_invalid', 'The ID token is not valid.')
}

/** Verifies an ID token: signature with the provider's keys, iss, aud, exp, iat, nonce, azp. */
export async function verifyIdToken(
  idToken: string,
  discovered: Discovered,
  settings: OidcSettings,
  expect: { nonce: string; clockSkewMs: number; maxAgeMs: number },
): Promise<JWTPayload> {
  try {
    const { payload } = await jwtVerify(idToken, discovered.jwks, {
      issuer: discovered.metadata.issuer,
      audience: settings.clientId,
      algorithms: settings.allowedAlgorithms,
      clockTolerance: Math.round(expect.clockSkewMs / 1000),
      maxTokenAge: Math.round(expect.maxAgeMs / 1000),
      requiredClaims: ['sub', 'iat', 'exp', 'nonce'],
    })
    if (payload.nonce !== expect.nonce)
      throw new IdTokenError('nonce_mismatch', 'The ID token was not issued for this sign-in (nonce).')
    const audiences = Array.isArray(payload.aud) ? payload.aud : [payload.aud]
    if ((audiences.length > 1 || payload.azp !== undefined) && payload.azp !== settings.clientId)
      throw new IdTokenError('azp_mismatch', 'The ID token was issued to another client (azp).')
    if (settings.hostedDomain && payload.hd !== settings.hostedDomain)
      throw new IdTokenError('hosted_domain', `Only accounts of ${settings.hostedDomain} may sign in.`)
    return payload
  } catch (error) {
    throw idTokenProblem(error)
  }
}

function checkOidc(
  settings: OidcSettings,
  _secrets: Record<string, string>,
  config: SsoConfig,
): FieldProblem[] {
  const problems: FieldProblem[] = []
  const problem = (path: string, message: string) => problems.push({ path: `body.settings.${path}`, message })
  if (!config.publicUrl)
    problems.push({
      path: 'PGA_PUBLIC_URL',
      message: 'set PGA_PUBLIC_URL: the redirect URI is built from it',
    })
  const missing = oidcPresets[settings.preset].requires.filter((field) => !settings[field])
  for (const field of missing) problem(field, `required with preset ${settings.preset}`)
  if (missing.length > 0) return problems
  const { issuer, apiBaseUrl, webBaseUrl } = effectiveOidc(settings)
  const urls: [string, string][] =
    settings.preset === 'github'
      ? [
          ['apiBaseUrl', apiBaseUrl],
          ['webBaseUrl', webBaseUrl],
        ]
      : [[settings.preset === 'keycloak' ? 'baseUrl' : 'issuer', issuer as string]]
  for (const [field, url] of urls) {
    const insecure = requireSecureUrl(url)
    if (insecure) problem(field, insecure)
  }
  return problems
}

export const oidcAdapter: ProviderAdapter<'oidc'> = {
  type: 'oidc',
  check: checkOidc,
  loginPath: (name) => oidcPath(name, 'login'),
  async test(ctx, provider) {
    const steps: TestStep[] = []
    const started = performance.now()
    const ms = () => Math.round(performance.now() - started)
    const settings = provider.settings
    try {
      if (settings.preset === 'github') {
        const { apiBaseUrl } = effectiveOidc(settings)
        await fetchJson(`${apiBaseUrl}/meta`, {}, ctx.config.httpTimeoutMs, 'the GitHub API')
        steps.push({ step: 'GitHub API', ok: true, detail: `${apiBaseUrl} answers`, ms: ms() })
      } else {
        const discovered = await discover(provider, ctx.config)
        steps.push({ step: 'discovery', ok: true, detail: `issuer ${discovered.metadata.issuer}`, ms: ms() })
        const keys = await fetchJson<{ keys?: unknown[] }>(
          discovered.metadata.jwks_uri,
          {},
          ctx.config.httpTimeoutMs,
          'JWKS',
        )
        steps.push({
          step: 'JWKS',
          ok: (keys.keys?.length ?? 0) > 0,
          detail: `${keys.keys?.length ?? 0} keys`,
          ms: ms(),
        })
        const pkce = discovered.metadata.code_challenge_methods_supported
        steps.push({
          step: 'PKCE',
          ok: !pkce || pkce.includes('S256'),
          detail: pkce ? `supports ${pkce.join(', ')}` : 'not advertised (sent anyway)',
          ms: ms(),
        })
      }
    } catch (error) {
      steps.push({ step: 'provider', ok: false, detail: (error as Error).message, ms: ms() })
    }
    return { ok: steps.every((s) => s.ok), steps }
  },
}
