// Requests to identity providers (OIDC discovery, JWKS, token and userinfo endpoints, the GitHub
// API, SAML metadata URLs): HTTPS only (plain HTTP only to a loopback address, for a provider on
// the same machine), each bounded by PGA_SSO_HTTP_TIMEOUT, and a provider that cannot be reached is
// a 503 naming the cause, never a hang.
import { isIP } from 'node:net'
import { UnavailableError } from '../../http/errors.ts'

/** The identity provider could not be reached or answered nonsense. */
export class ProviderUnavailableError extends UnavailableError {
  constructor(detail: string) {
    super('identity_provider_unavailable', detail, 5)
  }
}

const loopback = (host: string) =>
  host === 'localhost' || (isIP(host) === 4 && host.startsWith('127.')) || host === '[::1]' || host === '::1'

/** null when the URL may be used; otherwise why not. */
export function requireSecureUrl(url: string): string | null {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return 'not a URL'
  }
  if (parsed.protocol === 'https:') return null
  if (parsed.protocol === 'http:' && loopback(parsed.hostname)) return null
  return 'must be https:// (http:// only on a loopback address)'
}

/** fetch with a deadline; network failures and timeouts become ProviderUnavailableError. */
export async function fetchWithTimeout(
  url: string,
  init: RequestInit,
  timeoutMs: number,
  what: string,
): Promise<Response> {
  try {
    return await fetch(url, { ...init, redirect: 'error', signal: AbortSignal.timeout(timeoutMs) })
  } catch (error) {
    const name = (error as Error).name
    const cause =
      name === 'TimeoutError' || name === 'AbortError'
        ? `no answer within ${timeoutMs} ms`
        : (error as Error).message
    throw new ProviderUnavailableError(`The identity provider could not be reached (${what}): ${cause}.`)
  }
}

/** GET JSON with the deadline; a non-2xx answer or a body that is not JSON is the provider's fault. */
export async function fetchJson<T>(
  url: string,
  init: RequestInit,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const response = await fetchWithTimeout(
    url,
    { ...init, headers: { Accept: 'application/json', ...init.headers } },
    timeoutMs,
    what,
  )
  if (!response.ok)
    throw new ProviderUnavailableError(`The identity provider answered ${response.status} (${what}).`)
  try {
    return (await response.json()) as T
  } catch {
    throw new ProviderUnavailableError(`The identity provider answered something that is not JSON (${what}).`)
  }
}
