// Sessions and tokens. A session is a row in auth_sessions (durable: listing, revocation a refresh
// checks) and a record in the state store (hot: checked on every request, idle timeout as its TTL).
// The access token is a short-lived EdDSA JWT naming the session; the refresh token is opaque
// (`<id>.<secret>`, only a hash stored), single-use, and rotates on every refresh; presenting a
// used one again revokes the session (the token family). Logout deletes the record and puts the
// access token's jti on a blacklist until it would have expired. Ending all of a user's sessions
// raises the user's token_version in PostgreSQL, which every replica re-reads at most
// `userCacheMs` later: that is the revocation window if the state store loses data.
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto'
import { type JWTPayload, errors as joseErrors, jwtVerify, SignJWT } from 'jose'
import { UnauthorizedError } from '../http/errors.ts'
import type { Keyring } from '../keys/keyring.ts'
import type { Db } from '../platform/db/database.ts'
import type { StateStore } from '../platform/state/state-store.ts'
import type { Role } from './permissions.ts'
import { currentSigningKey, publishedKeys, tokenAlgorithm, verificationKey } from './token-keys.ts'

export type SessionSettings = {
  issuer: string
  audience: string
  accessTokenTtlMs: number
  idleTimeoutMs: number
  absoluteTimeoutMs: number
  /** How long a replica trusts its copy of a user's role, status and token version. */
  userCacheMs: number
}

type SessionRecord = {
  userId: string
  tokenVersion: number
  method: string
  createdAt: number
  expiresAt: number
  lastSeenAt: number
  /** The role requires MFA and the user has none yet: only their own account is reachable. */
  restricted?: boolean
}

/** An access token whose signature and claims were checked, with what each request reads. */
type VerifiedToken = {
  token: string
  payload: JWTPayload
  until: number
  sessionId: string
  jti: string
  stateKeys: readonly string[]
}

type RefreshRecord = { sessionId: string; secretHash: string; state: 'active' | 'used' }

export type TokenResponse = {
  access_token: string
  token_type: 'Bearer'
  expires_in: number
  refresh_token: string
  session_id: string
}

export type UserState = { id: string; role: Role; tokenVersion: number; disabled: boolean }

export type AuthenticatedUser = {
  userId: string
  role: Role
  sessionId: string
  jti: string
  expiresAt: number
  restricted: boolean
}

// A session's record and its revoked token ids share a hash tag (the session id), so every request
// reads both in one round trip, also on Redis Cluster.
const sessionKey = (id: string) => `auth:session:{${id}}`
const revokedJtiKey = (sessionId: string, jti: string) => `auth:revoked-jti:{${sessionId}}:${jti}`
const refreshKey = (id: string) => `auth:refresh:${id}`
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

export class InvalidTokenError extends UnauthorizedError {
  constructor(detail: string) {
    super(detail, 'invalid_token')
  }
}

export class Sessions {
  private readonly users = new Map<string, { state: UserState | null; at: number }>()
  private readonly verified = new Map<string, VerifiedToken>()
  private readonly records = new Map<string, { stored: string; record: SessionRecord }>()
  private keys: { at: number; byKid: Map<string, CryptoKey> } = { at: 0, byKid: new Map() }

  constructor(
    private readonly deps: { db: Db; state: StateStore; keyring: () => Keyring },
    readonly settings: SessionSettings,
  ) {}

  /** Starts a session for a user who has just proved who they are. */
  async start(
    user: UserState,
    context: {
      method: string
      ip?: string | undefined
      userAgent?: string | undefined
      restricted?: boolean
    },
  ): Promise<TokenResponse> {
    const now = Date.now()
    const id = randomUUID()
    const record: SessionRecord = {
      userId: user.id,
      tokenVersion: user.tokenVersion,
      method: context.method,
      createdAt: now,
      expiresAt: now + this.settings.absoluteTimeoutMs,
      lastSeenAt: now,
      ...(context.restricted ? { restricted: true } : {}),
    }
    await this.deps.db`
      insert into auth_sessions (id, user_id, expires_at, ip_address, user_agent, method)
      values (${id}, ${user.id}, ${new Date(record.expiresAt)}, ${context.ip ?? null}, ${context.userAgent ?? null},
              ${context.method})`
    await this.saveRecord(id, record)
    return this.issue(id, record)
  }

  /** Exchanges a refresh token for a new pair; a used token presented again revokes the session. */
  async refresh(refreshToken: string): Promise<TokenResponse> {
    const [tokenId, secret] = refreshToken.split('.')
    if (!tokenId || !secret || !/^[0-9a-f-]{36}$/.test(tokenId))
      throw new InvalidTokenError('Malformed refresh token.')
    const stored = await this.deps.state.get(refreshKey(tokenId))
    if (!stored) throw new InvalidTokenError('The refresh token is unknown or expired.')
    const record = JSON.parse(stored) as RefreshRecord
    if (!timingSafeEqual(Buffer.from(record.secretHash), Buffer.from(sha256(secret))))
      throw new InvalidTokenError('The refresh token is not valid.')
    const used = JSON.stringify({ ...record, state: 'used' } satisfies RefreshRecord)
    // Atomic: of two concurrent uses of one token, one wins and the other counts as reuse.
    if (
      record.state === 'used' ||
      !(await this.deps.state.compareAndSet(refreshKey(tokenId), stored, used, {
        ttlMs: this.settings.absoluteTimeoutMs,
      }))
    ) {
      await this.revoke(record.sessionId, 'refresh_token_reuse')
      throw new RefreshReuseError(record.sessionId)
    }
    const session = await this.liveSession(record.sessionId)
    return this.issue(record.sessionId, session)
  }

  /** The session record, if the session is live in both the state store and PostgreSQL. */
  private async liveSession(id: string): Promise<SessionRecord> {
    const stored = await this.deps.state.get(sessionKey(id))
    const [row] = await this.deps.db<{ revoked: boolean }[]>`
      select revoked_at is not null or expires_at <= now() as revoked from auth_sessions where id = ${id}`
    if (!stored || !row || row.revoked) throw new InvalidTokenError('The session has ended.')
    const record = JSON.parse(stored) as SessionRecord
    const user = await this.user(record.userId, { fresh: true })
    if (!user || user.disabled || user.tokenVersion !== record.tokenVersion)
      throw new InvalidTokenError('The session has ended.')
    return record
  }

  private async issue(sessionId: string, record: SessionRecord): Promise<TokenResponse> {
    const key = await currentSigningKey(this.deps.db, this.deps.keyring())
    // A key this replica has not loaded yet (new, or rotated here): reload it at the next check.
    if (!this.keys.byKid.has(key.kid)) this.keys.at = 0
    const now = Math.floor(Date.now() / 1000)
    const ttl = Math.min(this.settings.accessTokenTtlMs, record.expiresAt - Date.now())
    // email and role are for relying parties such as Grafana (docs/DASHBOARDS.md); this service
    // re-reads the role from the store on every request and never trusts the claim.
    const [profile] = await this.deps.db<{ email: string; role: Role }[]>`
      select email, role from auth_users where id::text = ${record.userId}`
    const accessToken = await new SignJWT({
      sid: sessionId,
      tv: record.tokenVersion,
      ...(profile ? { email: profile.email, role: profile.role } : {}),
    })
      .setProtectedHeader({ alg: tokenAlgorithm, kid: key.kid, typ: 'at+jwt' })
      .setIssuer(this.settings.issuer)
      .setAudience(this.settings.audience)
      .setSubject(record.userId)
      .setJti(randomUUID())
      .setIssuedAt(now)
      .setExpirationTime(now + Math.max(1, Math.floor(ttl / 1000)))
      .sign(key.privateKey)
    const tokenId = randomUUID()
    const secret = randomBytes(32).toString('base64url')
    const refresh: RefreshRecord = { sessionId, secretHash: sha256(secret), state: 'active' }
    await this.deps.state.set(refreshKey(tokenId), JSON.stringify(refresh), {
      ttlMs: Math.max(1000, record.expiresAt - Date.now()),
    })
    return {
      access_token: accessToken,
      token_type: 'Bearer',
      expires_in: Math.max(1, Math.floor(ttl / 1000)),
      refresh_token: `${tokenId}.${secret}`,
      session_id: sessionId,
    }
  }

  /** Checks an access token: signature and claims, session live, jti not revoked, user current. */
  async authenticate(token: string): Promise<AuthenticatedUser> {
    const { payload, sessionId, jti, stateKeys } = await this.verifiedToken(token)
    const [stored, revoked] = await this.deps.state.getManyCached(stateKeys)
    if (revoked) throw new InvalidTokenError('The token was revoked (signed out).')
    if (!stored) throw new InvalidTokenError('The session has ended.')
    const record = this.parsedRecord(sessionId, stored)
    const user = await this.user(payload.sub as string)
    if (!user || user.disabled) throw new InvalidTokenError('The account is disabled.')
    if (user.tokenVersion !== payload.tv || record.tokenVersion !== payload.tv)
      throw new InvalidTokenError('The session has ended.')
    // Slide the idle timeout, but write at most once a minute per session.
    if (Date.now() - record.lastSeenAt > 60_000)
      await this.saveRecord(sessionId, { ...record, lastSeenAt: Date.now() })
    return {
      userId: user.id,
      role: user.role,
      sessionId,
      jti,
      expiresAt: (payload.exp as number) * 1000,
      restricted: record.restricted === true,
    }
  }

  /** The session record from its stored JSON, parsed again only when the JSON changed (the tracked
   * copy hands back the same string until the record is written). */
  private parsedRecord(sessionId: string, stored: string): SessionRecord {
    const known = this.records.get(sessionId)
    if (known?.stored === stored) return known.record
    const record = JSON.parse(stored) as SessionRecord
    if (this.records.size >= 10_000) this.records.clear()
    this.records.set(sessionId, { stored, record })
    return record
  }

  /** Signature and claims, checked once per token and replica: they cannot change during the
   * token's life (session, jti and user are still checked on every request). Looked up by the
   * signature, not the whole token (a new string of several hundred characters would be hashed on
   * every request), and then compared whole. */
  private async verifiedToken(token: string): Promise<VerifiedToken> {
    const signature = token.slice(token.lastIndexOf('.') + 1)
    const known = this.verified.get(signature)
    if (known && known.token === token && known.until > Date.now()) return known
    let payload: JWTPayload
    try {
      ;({ payload } = await jwtVerify(token, (header) => this.verificationKeyFor(header.kid), {
        issuer: this.settings.issuer,
        audience: this.settings.audience,
        algorithms: [tokenAlgorithm],
        typ: 'at+jwt',
        requiredClaims: ['sub', 'jti', 'exp', 'iat', 'sid', 'tv'],
      }))
    } catch (error) {
      throw new InvalidTokenError(tokenProblem(error))
    }
    const sessionId = String(payload.sid)
    const jti = payload.jti as string
    const verified: VerifiedToken = {
      token,
      payload,
      until: (payload.exp as number) * 1000,
      sessionId,
      jti,
      // The same array on every request: the state store keeps its prefixed names per array.
      stateKeys: [sessionKey(sessionId), revokedJtiKey(sessionId, jti)],
    }
    if (this.verified.size >= 10_000) this.verified.clear()
    this.verified.set(signature, verified)
    return verified
  }

  private async verificationKeyFor(kid: string | undefined): Promise<CryptoKey> {
    // A key not seen yet may have been created by another replica: reload, at most once a second
    // (tokens naming made-up keys cannot turn into a query each).
    if (kid && !this.keys.byKid.has(kid) && Date.now() - this.keys.at > 1000) {
      const byKid = new Map<string, CryptoKey>()
      for (const jwk of await publishedKeys(this.deps.db, this.settings.accessTokenTtlMs))
        byKid.set(jwk.kid, await verificationKey(jwk))
      this.keys = { at: Date.now(), byKid }
    }
    const key = kid ? this.keys.byKid.get(kid) : undefined
    if (!key) throw new InvalidTokenError('The token was signed by an unknown key.')
    return key
  }

  /** The user's role, status and token version, re-read from PostgreSQL after userCacheMs. */
  async user(id: string, options: { fresh?: boolean } = {}): Promise<UserState | null> {
    const cached = this.users.get(id)
    if (cached && !options.fresh && Date.now() - cached.at < this.settings.userCacheMs) return cached.state
    const [row] = await this.deps.db<UserState[]>`
      select id::text, role, token_version as "tokenVersion", disabled_at is not null as disabled
        from auth_users where id::text = ${id}`
    this.users.set(id, { state: row ?? null, at: Date.now() })
    return row ?? null
  }

  /** Forgets this replica's copy of a user (after a change it made itself). */
  forgetUser(id: string) {
    this.users.delete(id)
  }

  /** Forgets every cached user (another replica changed someone's access). */
  forgetAllUsers() {
    this.users.clear()
  }

  /** Ends one session: the record goes, the row is marked; its refresh tokens then fail. */
  async revoke(sessionId: string, reason: string): Promise<void> {
    await this.deps.db`
      update auth_sessions set revoked_at = now(), revoked_reason = ${reason}
       where id = ${sessionId} and revoked_at is null`
    await this.deps.state.delete(sessionKey(sessionId))
  }

  /** Signs an access token out at once: its jti is refused until the token would have expired. */
  async blacklist(token: { sessionId: string; jti: string; expiresAt: number }): Promise<void> {
    const ttlMs = token.expiresAt - Date.now()
    if (ttlMs > 0) await this.deps.state.set(revokedJtiKey(token.sessionId, token.jti), '1', { ttlMs })
  }

  /** Ends every session of a user (optionally but one): raises the durable token version. */
  async revokeAllOf(userId: string, reason: string, keep?: { sessionId: string }): Promise<number> {
    const [row] = await this.deps.db<{ tokenVersion: number }[]>`
      update auth_users set token_version = token_version + 1, updated_at = now()
       where id = ${userId} returning token_version as "tokenVersion"`
    const sessions = await this.deps.db<{ id: string }[]>`
      update auth_sessions set revoked_at = now(), revoked_reason = ${reason}
       where user_id = ${userId} and revoked_at is null and id::text <> ${keep?.sessionId ?? ''}
       returning id::text`
    for (const s of sessions) await this.deps.state.delete(sessionKey(s.id))
    this.forgetUser(userId)
    if (keep && row) {
      const stored = await this.deps.state.get(sessionKey(keep.sessionId))
      if (stored)
        await this.saveRecord(keep.sessionId, {
          ...(JSON.parse(stored) as SessionRecord),
          tokenVersion: row.tokenVersion,
        })
    }
    return sessions.length
  }

  /** The user enrolled in MFA: the session reaches everything the role allows. */
  async liftEnrollmentRestriction(sessionId: string): Promise<void> {
    const stored = await this.deps.state.get(sessionKey(sessionId))
    if (stored) {
      const { restricted: _, ...record } = JSON.parse(stored) as SessionRecord
      await this.saveRecord(sessionId, record)
    }
  }

  /** A new token pair for a session the user kept (after a change of password). */
  async reissue(sessionId: string): Promise<TokenResponse> {
    return this.issue(sessionId, await this.liveSession(sessionId))
  }

  private async saveRecord(id: string, record: SessionRecord) {
    const ttlMs = Math.min(this.settings.idleTimeoutMs, record.expiresAt - Date.now())
    if (ttlMs > 0) await this.deps.state.set(sessionKey(id), JSON.stringify(record), { ttlMs })
  }
}

export class RefreshReuseError extends InvalidTokenError {
  constructor(readonly sessionId: string) {
    super('The refresh token was already used; the session has been ended.')
  }
}

function tokenProblem(error: unknown): string {
  if (error instanceof InvalidTokenError) return error.message
  if (error instanceof joseErrors.JWTExpired) return 'The token has expired.'
  if (error instanceof joseErrors.JWTClaimValidationFailed)
    return `The token's ${error.claim} claim is not valid.`
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return 'The token’s algorithm is not allowed.'
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return 'The token’s signature is not valid.'
  return 'The token is not valid.'
}
