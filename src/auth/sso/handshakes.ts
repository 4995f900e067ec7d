// What a browser sign-in keeps between its steps, all in the state store (any replica may serve
// any step), each used once: the SAML request ids we sent, the OIDC state with its nonce and PKCE
// verifier, the assertion ids already accepted (replay cache, until the assertion expires), and
// the one-time codes a browser exchanges for its session. Each handshake is bound to the browser
// that started it by a random cookie (only its hash is stored), so a response or code carried to
// another browser (login CSRF) is refused.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { StateStore } from '../../platform/state/state-store.ts'
import { isSafeRelativePath } from './config.ts'

export const bindingCookie = 'pga_sso_binding'
const exchangeCodeTtlMs = 60_000

const key = (kind: string, id: string) => `auth:sso:${kind}:${id}`
export const hashBinding = (binding: string) => createHash('sha256').update(binding).digest('base64url')

/** Whether a presented browser binding is the one a handshake was started with. */
export function sameBinding(storedHash: string | undefined, presented: string | undefined): boolean {
  if (!storedHash || !presented) return false
  const a = Buffer.from(storedHash)
  const b = Buffer.from(hashBinding(presented))
  return a.length === b.length && timingSafeEqual(a, b)
}

export type SamlRequestRecord = { provider: string; returnTo: string; binding: string }
export type OidcStateRecord = {
  provider: string
  nonce: string
  codeVerifier: string
  returnTo: string
  binding: string
}
/** What a code stands for: a session opened at the ACS or callback, or its MFA challenge. */
export type ExchangeRecord =
  | {
      kind: 'session'
      sessionId: string
      userId: string
      provider: string
      binding: string
      mfaEnrollmentRequired: boolean
    }
  | { kind: 'mfa'; mfaToken: string; expiresIn: number; userId: string; provider: string; binding: string }

export async function saveHandshake(
  state: StateStore,
  kind: 'saml-request' | 'oidc-state',
  id: string,
  value: SamlRequestRecord | OidcStateRecord,
  ttlMs: number,
): Promise<void> {
  await state.set(key(kind, id), JSON.stringify(value), { ttlMs })
}

/** Reads and removes a handshake: a second use finds nothing. */
export async function takeHandshake<T>(state: StateStore, kind: 'saml-request' | 'oidc-state', id: string) {
  const stored = await state.getAndDelete(key(kind, id))
  return stored ? (JSON.parse(stored) as T) : null
}

/** Records an accepted assertion id until it expires; false when it was seen already (replay). */
export async function rememberAssertion(
  state: StateStore,
  provider: string,
  assertionId: string,
  ttlMs: number,
): Promise<boolean> {
  const digest = createHash('sha256').update(assertionId).digest('base64url')
  return state.setIfAbsent(key(`saml-assertion:${provider}`, digest), '1', { ttlMs: Math.max(1000, ttlMs) })
}

export async function issueExchangeCode(state: StateStore, record: ExchangeRecord): Promise<string> {
  const code = randomBytes(32).toString('base64url')
  await state.set(key('code', code), JSON.stringify(record), { ttlMs: exchangeCodeTtlMs })
  return code
}

export async function takeExchangeCode(state: StateStore, code: string): Promise<ExchangeRecord | null> {
  if (!/^[A-Za-z0-9_-]{43}$/.test(code)) return null
  const stored = await state.getAndDelete(key('code', code))
  return stored ? (JSON.parse(stored) as ExchangeRecord) : null
}

/** Where a finished sign-in may send the browser: an allowed relative path, else the first one. */
export function safeReturnPath(requested: string | null | undefined, allowed: string[]): string {
  const fallback = allowed[0] ?? '/'
  if (!requested || requested.length > 2048 || !isSafeRelativePath(requested)) return fallback
  return allowed.some((prefix) => requested.startsWith(prefix)) ? requested : fallback
}
