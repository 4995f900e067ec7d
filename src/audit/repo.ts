// SQL of the audit read side: filtered search with keyset pagination (newest first), one entry.
import type { Db } from '../platform/db/database.ts'
import { emptyFrontier, type Frontier } from './merkle.ts'

export type LogFilter = {
  eventType?: string | undefined
  resourceType?: string | undefined
  resourceId?: string | undefined
  action?: string | undefined
  actorId?: string | undefined
  from?: string | undefined
  to?: string | undefined
  /** Entries with an id below this (the previous page's nextCursor). */
  cursor?: number | undefined
  limit: number
}

export type LogEntry = Record<string, unknown> & { id: number }

const columns = (db: Db) => db`
  id::float8, event_id as "eventId", event_type as "eventType", resource_type as "resourceType", resource_id as "resourceId",
  action, outcome, actor_type as "actorType", actor_id as "actorId", session_id as "sessionId", request_id as "requestId",
  ip_address as "ipAddress", user_agent as "userAgent", changes, old_values as "oldValues", new_values as "newValues",
  created_at as "createdAt", sealed_at as "sealedAt", previous_hash as "previousHash", content_hash as "contentHash"`

export async function searchLogs(
  db: Db,
  f: LogFilter,
): Promise<{ items: LogEntry[]; nextCursor: number | null }> {
  const rows = await db<LogEntry[]>`
    select ${columns(db)} from audit_logs
     where (${f.eventType ?? null}::text is null or event_type = ${f.eventType ?? null})
       and (${f.resourceType ?? null}::text is null or resource_type = ${f.resourceType ?? null})
       and (${f.resourceId ?? null}::text is null or resource_id = ${f.resourceId ?? null})
       and (${f.action ?? null}::text is null or action = ${f.action ?? null})
       and (${f.actorId ?? null}::text is null or actor_id = ${f.actorId ?? null})
       and (${f.from ?? null}::timestamptz is null or created_at >= ${f.from ?? null})
       and (${f.to ?? null}::timestamptz is null or created_at <= ${f.to ?? null})
       and (${f.cursor ?? null}::bigint is null or id < ${f.cursor ?? null})
     order by audit_logs.id desc
     limit ${f.limit + 1}`
  const items = rows.slice(0, f.limit)
  return { items, nextCursor: rows.length > f.limit ? (items.at(-1)?.id ?? null) : null }
}

export async function findLog(db: Db, id: number): Promise<LogEntry | null> {
  const [row] = await db<LogEntry[]>`select ${columns(db)} from audit_logs where id = ${id}`
  return row ?? null
}

export type StoredCheckpoint = {
  tree_size: number
  root_hash: string
  previous_checkpoint_hash: string
  key_id: string
  created_at: string
  checkpoint_hash: string
  signature: string
}

/** The checkpoint of the given tree size, or the latest. */
export async function checkpointFor(db: Db, treeSize: number | null): Promise<StoredCheckpoint | null> {
  const [row] = await db<StoredCheckpoint[]>`
    select tree_size::float8, root_hash, previous_checkpoint_hash, key_id,
           to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as created_at, checkpoint_hash, signature
      from audit_log_verification
     where ${treeSize}::bigint is null or tree_size = ${treeSize}
     order by audit_log_verification.tree_size desc limit 1`
  return row ?? null
}

/** One entry exactly as its content_hash was computed (snake_case, ISO timestamps). */
export async function hashedEntry(db: Db, id: number): Promise<Record<string, unknown> | null> {
  const [row] = await db<Record<string, unknown>[]>`
    select id::float8, event_id::text, event_type, resource_type, resource_id, action, outcome, actor_type, actor_id,
           session_id, request_id, ip_address, user_agent, changes, old_values, new_values,
           to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as created_at,
           to_char(sealed_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as sealed_at,
           previous_hash, content_hash
      from audit_logs where id = ${id}`
  return row ?? null
}

/** Content hashes of entries after..treeSize, in order (the live leaves of that tree). */
export async function contentHashes(db: Db, after: number, treeSize: number): Promise<string[]> {
  const rows = await db<{ h: string }[]>`
    select content_hash as h from audit_logs where id > ${after} and id <= ${treeSize} order by audit_logs.id`
  return rows.map((r) => r.h)
}

/** The archived prefix of the tree as its frontier (size 0 when nothing is archived). */
export async function archivedPrefix(db: Db): Promise<Frontier> {
  const [row] = await db<{ size: number; frontier: string[] }[]>`
    select v.tree_size::float8 as size, v.frontier from audit_logs_archive a
      join audit_log_verification v on v.tree_size = a.last_id
     order by a.last_id desc limit 1`
  return row ? { size: row.size, roots: row.frontier.map((h) => Buffer.from(h, 'hex')) } : emptyFrontier()
}

/** Checkpoints newest first, below `before` (a tree size) when given. */
export async function listCheckpoints(db: Db, limit: number, before?: number): Promise<StoredCheckpoint[]> {
  return db<StoredCheckpoint[]>`
    select tree_size::float8, root_hash, previous_checkpoint_hash, key_id,
           to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as created_at, checkpoint_hash, signature
      from audit_log_verification
     where ${before ?? null}::bigint is null or tree_size < ${before ?? null}
     order by audit_log_verification.tree_size desc limit ${limit}`
}
