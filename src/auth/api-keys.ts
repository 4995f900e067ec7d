// API keys for automation and agents: `pgak_` + 32 base62 characters (greppable when leaked, e.g.
// by secret scanners), shown once, stored as SHA-256. A key has a role (never more than its
// creator's), an optional expiry, a last-used time (written at most once a minute), and is revoked
// at once on this replica and within `cacheMs` on the others. A key of a disabled user stops working.
// An `agent` key is bound to one instance and may only push that instance's host metrics.
import { createHash, randomBytes } from 'node:crypto'
import { type AuditContext, recordAuditEvent } from '../audit/events.ts'
import { BadRequestError, ForbiddenError, NotFoundError } from '../http/errors.ts'
import { type Db, isoTimestamp, withTransaction } from '../platform/db/database.ts'
import { type ApiKeyRole, rolePermissions } from './permissions.ts'

export const apiKeyPrefix = 'pgak_'
const alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'

export type ApiKey = {
  id: string
  name: string
  displayPrefix: string
  role: ApiKeyRole
  /** The instance an agent key pushes for (null for every other key). */
  instanceId: string | null
  ownerUserId: string | null
  expiresAt: string | null
  lastUsedAt: string | null
  revokedAt: string | null
  createdAt: string
}

type KeyState = {
  id: string
  role: ApiKeyRole
  ownerUserId: string | null
  instanceId: string | null
  usable: boolean
}

const columns = `id::text, name, display_prefix as "displayPrefix", role, instance_id::text as "instanceId",
  owner_user_id::text as "ownerUserId",
  ${isoTimestamp('expires_at')} as "expiresAt", ${isoTimestamp('last_used_at')} as "lastUsedAt", ${isoTimestamp('revoked_at')} as "revokedAt",
  ${isoTimestamp('created_at')} as "createdAt"`
const hashOf = (key: string) => createHash('sha256').update(key).digest('hex')

function newKey(): string {
  const bytes = randomBytes(32)
  return apiKeyPrefix + Array.from(bytes, (b) => alphabet[b % 62]).join('')
}

/** True when every permission of `wanted` is one `holder` has. */
export const roleCovers = (holder: ApiKeyRole, wanted: ApiKeyRole) =>
  rolePermissions[wanted].every((p) => rolePermissions[holder].includes(p))

/** An agent key names its instance; no other key may. */
function checkInstanceBinding(input: { role: ApiKeyRole; instanceId?: string | undefined }) {
  if (input.role === 'agent' && !input.instanceId)
    throw new BadRequestError(
      'agent_key_needs_instance',
      'An agent key is bound to one instance: give instanceId.',
      [{ path: 'body.instanceId', message: 'required when role is agent' }],
    )
  if (input.role !== 'agent' && input.instanceId)
    throw new BadRequestError(
      'instance_binding_agent_only',
      'Only agent keys are bound to an instance; leave instanceId out or use role agent.',
      [{ path: 'body.instanceId', message: 'only with role agent' }],
    )
}

export async function createApiKey(
  db: Db,
  audit: AuditContext,
  creator: { role: ApiKeyRole; userId: string | null },
  input: {
    name: string
    role: ApiKeyRole
    instanceId?: string | undefined
    expiresInDays?: number | undefined
  },
): Promise<ApiKey & { key: string }> {
  if (!roleCovers(creator.role, input.role))
    throw new ForbiddenError(
      'role_exceeds_own',
      `A key cannot have more rights than its creator (${creator.role}).`,
    )
  checkInstanceBinding(input)
  const key = newKey()
  return withTransaction(db, async (tx) => {
    const [row] = await tx
      .unsafe<ApiKey[]>(
        `insert into auth_api_keys (name, display_prefix, secret_hash, role, owner_user_id, expires_at, instance_id)
         values ($1, $2, $3, $4, $5, case when $6::int is null then null else now() + make_interval(days => $6::int) end,
                 $7::uuid)
         returning ${columns}`,
        [
          input.name,
          key.slice(0, apiKeyPrefix.length + 6),
          hashOf(key),
          input.role,
          creator.userId,
          input.expiresInDays ?? null,
          input.instanceId ?? null,
        ],
      )
      .catch((error) => {
        if ((error as { code?: string }).code === '23503')
          throw new NotFoundError(`Instance ${input.instanceId} does not exist.`)
        throw error
      })
    const created = row as ApiKey
    await recordAuditEvent(tx, audit, {
      eventType: 'api_key.created',
      resourceType: 'api_key',
      resourceId: created.id,
      action: 'create',
      newValues: created,
    })
    return { ...created, key }
  })
}

export async function listApiKeys(db: Db, ownerUserId: string | null): Promise<ApiKey[]> {
  return ownerUserId === null
    ? db.unsafe<ApiKey[]>(`select ${columns} from auth_api_keys order by created_at desc`)
    : db.unsafe<ApiKey[]>(
        `select ${columns} from auth_api_keys where owner_user_id::text = $1 order by created_at desc`,
        [ownerUserId],
      )
}

export async function revokeApiKey(
  db: Db,
  audit: AuditContext,
  id: string,
  ownerUserId: string | null,
): Promise<void> {
  await withTransaction(db, async (tx) => {
    const [row] = await tx`
      update auth_api_keys set revoked_at = now()
       where id::text = ${id} and revoked_at is null and (${ownerUserId}::text is null or owner_user_id::text = ${ownerUserId})
       returning id`
    if (!row) throw new NotFoundError(`API key ${id} does not exist or is already revoked.`)
    await recordAuditEvent(tx, audit, {
      eventType: 'api_key.revoked',
      resourceType: 'api_key',
      resourceId: id,
      action: 'delete',
    })
  })
}

/** Resolves presented keys, with a short per-replica cache (the revocation window elsewhere). */
export class ApiKeyResolver {
  private readonly cache = new Map<string, { state: KeyState | null; at: number }>()
  private readonly touched = new Map<string, number>()

  constructor(
    private readonly db: Db,
    private readonly cacheMs: number,
  ) {}

  async resolve(key: string): Promise<KeyState | null> {
    const hash = hashOf(key)
    const cached = this.cache.get(hash)
    let state = cached && Date.now() - cached.at < this.cacheMs ? cached.state : undefined
    if (state === undefined) {
      const [row] = await this.db<KeyState[]>`
        select k.id::text, k.role, k.owner_user_id::text as "ownerUserId", k.instance_id::text as "instanceId",
               k.revoked_at is null and (k.expires_at is null or k.expires_at > now())
                 and (u.id is null or u.disabled_at is null) as usable
          from auth_api_keys k left join auth_users u on u.id = k.owner_user_id
         where k.secret_hash = ${hash}`
      state = row ?? null
      if (this.cache.size > 10_000) this.cache.clear()
      this.cache.set(hash, { state, at: Date.now() })
    }
    if (!state?.usable) return null
    if (Date.now() - (this.touched.get(state.id) ?? 0) > 60_000) {
      this.touched.set(state.id, Date.now())
      await this.db`update auth_api_keys set last_used_at = now() where id::text = ${state.id}`
    }
    return state
  }

  /** Forgets cached keys (after a revocation on this replica). */
  forget(): void {
    this.cache.clear()
  }
}
