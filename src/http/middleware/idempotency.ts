// Idempotency-Key (draft-ietf-httpapi-idempotency-key-header) on every unsafe request, on any
// replica. The key is scoped to the principal, the method and the route template; its record in
// the state store holds a fingerprint of the request (method, path, canonical JSON body) and, once
// done, the response (status, the headers that matter, the body encrypted by the keyring, since
// it may carry a token or an API key shown once).
// - First request: claims the key with a short lock that it renews while it runs, so when its
//   replica dies the lock lapses within seconds and a retry takes over.
// - Retry, same payload, done: the stored response, with `Idempotent-Replayed: true`.
// - Retry while the first still runs: waits up to PGA_IDEMPOTENCY_WAIT for it to finish (or its
//   lock to lapse), then 409 idempotency_in_progress. A balancer retrying after a replica died
//   therefore succeeds instead of failing.
// - Same key, other payload: 422 idempotency_key_reused. Malformed key: 400.
// Responses that say the request did not run (401, 403, 408, 429, 5xx) are not kept: the key is
// released for a retry. The state store may lose a record; the durable mark written with the
// change itself (idempotency-commits.ts) then stops a second change: checked when a key is
// claimed, and enforced by its primary key inside the change's transaction (two racing attempts).
import { createHash } from 'node:crypto'
import type { Context, MiddlewareHandler } from 'hono'
import type { StatusCode } from 'hono/utils/http-status'
import type { Keyring } from '../../keys/keyring.ts'
import { canonicalJson } from '../../platform/canonical-json.ts'
import type { Logger } from '../../platform/log.ts'
import type { StateStore } from '../../platform/state/state-store.ts'
import { BadRequestError, ServiceError } from '../errors.ts'
import { type IdempotencyAttempt, keyCommittedError } from '../idempotency-commits.ts'
import { routeLabel } from './observe-requests.ts'

declare module 'hono' {
  interface ContextVariableMap {
    idempotency: IdempotencyAttempt | undefined
  }
}

export const idempotencyHeader = 'Idempotency-Key'
/** An sf-string (quoted) or a bare token: 1-255 visible ASCII characters without `"`, `\` or `,`
 * (a comma would mean the header was sent twice). */
export const idempotencyKeyPattern =
  /^(?:"[\x20-\x21\x23-\x2b\x2d-\x5b\x5d-\x7e]{1,255}"|[\x21\x23-\x2b\x2d-\x5b\x5d-\x7e]{1,255})$/

/** The methods the middleware is mounted for (app.ts); others never pass through it. */
export const unsafeMethods = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])
/** Statuses that mean the operation did not run: not kept, so a retry can run it. */
const notRun = new Set([401, 403, 408, 429])
/** Response headers worth replaying. */
const replayedHeaders = ['content-type', 'location', 'etag', 'last-modified']
/** Larger responses are not kept (the key still guards against running twice). */
const maxStoredBody = 4 * 1024 * 1024

type Running = { s: 'running'; fp: string; attempt: string }
type Done = {
  s: 'done'
  fp: string
  status: number
  headers: [string, string][]
  cookies: string[]
  /** The body, encrypted by the keyring. */
  body: string
}

export class IdempotencyInProgressError extends ServiceError {
  constructor(retryAfterSeconds: number) {
    super(
      'idempotency_in_progress',
      409,
      'Conflict',
      'A request with this Idempotency-Key is still being processed; retry later with the same key.',
      { retryAfterSeconds },
    )
  }
}

export class IdempotencyKeyReusedError extends ServiceError {
  constructor() {
    super(
      'idempotency_key_reused',
      422,
      'Idempotency-Key reused',
      'This Idempotency-Key was used for a different request (method, path or body); use a new key.',
    )
  }
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export type IdempotencyOptions = {
  state: StateStore
  keyring: () => Keyring
  log: Logger
  /** How long a finished request's response is replayed (PGA_IDEMPOTENCY_TTL). */
  ttlMs: number
  /** How long a retry waits for a running first attempt (PGA_IDEMPOTENCY_WAIT). */
  waitMs: number
  /** Lock of a running attempt, renewed every third of it: how fast a dead replica's key frees. */
  lockMs?: number
  /** Whether a change was already committed under the key (its record in the state store is
   * gone): then nothing runs again. */
  isCommitted: (scope: string) => Promise<boolean>
  /** Called once per claimed key: housekeeping of the durable marks. */
  onClaim?: () => void
}

export function idempotency(options: IdempotencyOptions): MiddlewareHandler {
  const lockMs = options.lockMs ?? 3000

  const keyed: MiddlewareHandler = async (c, next) => {
    const header = c.req.header(idempotencyHeader) as string
    if (!idempotencyKeyPattern.test(header))
      throw new BadRequestError(
        'idempotency_key_invalid',
        'Idempotency-Key must be 1 to 255 visible ASCII characters without quotes, backslashes or commas (optionally as a quoted string).',
      )
    const route = routeLabel(c)
    if (route === 'unmatched') return next()

    const scope = idempotencyScope(principalKey(c), c.req.method, route, header)
    const key = `idem:${scope}`
    const running: Running = { s: 'running', fp: await fingerprintOf(c), attempt: crypto.randomUUID() }
    const claim = JSON.stringify(running)
    const replay = await claimOrReplay(c, options, { key, scope, claim, running, lockMs })
    if (replay) return replay

    options.onClaim?.()
    // A new claim: either a new key, or its record was lost after a change was made under it.
    if (await options.isCommitted(scope).catch(() => false)) {
      await options.state.compareAndSet(key, claim, null)
      throw keyCommittedError()
    }
    c.set('idempotency', { scope, attempt: running.attempt })
    // Keep the lock while the request runs; it lapses within lockMs if this replica dies.
    const renew = setInterval(() => {
      options.state.compareAndSet(key, claim, claim, { ttlMs: lockMs }).catch(() => {})
    }, lockMs / 3)
    try {
      await next()
    } finally {
      clearInterval(renew)
    }
    await storeOutcome(c, options, { key, scope, claim, fingerprint: running.fp })
  }
  // Not async on the path most requests take (no key): an extra promise each would cost more
  // than the check.
  return (c, next) =>
    unsafeMethods.has(c.req.method) && c.req.header(idempotencyHeader) !== undefined ? keyed(c, next) : next()
}

type Claim = { key: string; scope: string; claim: string; running: Running; lockMs: number }

/** Claims the key (resolves undefined), or answers from its record: the stored response, 422 for
 * another payload, or 409 when the first attempt still runs after the wait. */
async function claimOrReplay(
  c: Context,
  options: IdempotencyOptions,
  k: Claim,
): Promise<Response | undefined> {
  const waitUntil = performance.now() + options.waitMs
  for (;;) {
    if (await options.state.setIfAbsent(k.key, k.claim, { ttlMs: k.lockMs })) return undefined
    const current = await options.state.get(k.key)
    if (current === null) continue // the lock lapsed between the two calls
    const record = JSON.parse(current) as Running | Done
    if (record.fp !== k.running.fp) throw new IdempotencyKeyReusedError()
    if (record.s === 'done') {
      const replay = await replayOf(c, record, k.scope, options.keyring())
      if (replay) return replay
      // Unreadable (its data key retired): forget it; the durable mark still guards the change.
      await options.state.compareAndSet(k.key, current, null)
      continue
    }
    if (performance.now() >= waitUntil) throw new IdempotencyInProgressError(Math.ceil(k.lockMs / 1000))
    await sleep(Math.min(100, k.lockMs / 10))
  }
}

/** Keeps the response for replays, or releases the key when the request did not run. */
async function storeOutcome(
  c: Context,
  options: IdempotencyOptions,
  k: { key: string; scope: string; claim: string; fingerprint: string },
): Promise<void> {
  const res = c.res
  try {
    const body = notRun.has(res.status) || res.status >= 500 ? null : await storedBody(res)
    if (body === null) {
      await options.state.compareAndSet(k.key, k.claim, null)
      return
    }
    const done: Done = {
      s: 'done',
      fp: k.fingerprint,
      status: res.status,
      headers: replayedHeaders.flatMap((name) => {
        const value = res.headers.get(name)
        return value === null ? [] : [[name, value] as [string, string]]
      }),
      cookies: res.headers.getSetCookie(),
      body: await options.keyring().encrypt(Buffer.from(body).toString('base64'), responseField(k.scope)),
    }
    if (!(await options.state.compareAndSet(k.key, k.claim, JSON.stringify(done), { ttlMs: options.ttlMs })))
      c.var.log.warn('idempotency lock lapsed before the response was stored', { route: routeLabel(c) })
  } catch (error) {
    // The response itself is fine; only its replay copy is missing (the durable mark remains).
    c.var.log.error('could not store the idempotent response', { route: routeLabel(c), error: String(error) })
  }
}

/** The key's scope: its record in the state store is `idem:<scope>`. */
export const idempotencyScope = (principal: string, method: string, route: string, key: string) =>
  sha256([principal, method, route, key].join('\n'))

/** Who the key belongs to: the principal, or an anonymous caller's address. */
function principalKey(c: Context): string {
  const principal = c.get('auth')?.principal
  return principal ? `${principal.type}:${principal.id}` : `anonymous:${c.get('clientAddress')?.() ?? ''}`
}

/** Method, path with query, and the body (canonical JSON when it parses, else its bytes). */
async function fingerprintOf(c: Context): Promise<string> {
  const url = new URL(c.req.url)
  const text = await c.req.text()
  let body = text
  if (text && /json/i.test(c.req.header('Content-Type') ?? '')) {
    try {
      body = canonicalJson(JSON.parse(text))
    } catch {
      // Not JSON: the route's validation answers 400; the raw text still fingerprints it.
    }
  }
  return sha256([c.req.method, url.pathname + url.search, body].join('\n'))
}

const responseField = (scope: string) => ({ table: 'state:idempotency', column: 'response', rowKey: scope })

async function storedBody(res: Response): Promise<Uint8Array | null> {
  const bytes = new Uint8Array(await res.clone().arrayBuffer())
  return bytes.byteLength > maxStoredBody ? null : bytes
}

async function replayOf(c: Context, record: Done, scope: string, keyring: Keyring): Promise<Response | null> {
  let body: Uint8Array<ArrayBuffer>
  try {
    body = new Uint8Array(Buffer.from(await keyring.decrypt(record.body, responseField(scope)), 'base64'))
  } catch {
    return null
  }
  for (const [name, value] of record.headers) c.header(name, value)
  for (const cookie of record.cookies) c.header('Set-Cookie', cookie, { append: true })
  c.header('Idempotent-Replayed', 'true')
  return c.newResponse(body.byteLength === 0 ? null : body, record.status as StatusCode)
}
