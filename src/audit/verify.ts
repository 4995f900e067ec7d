// Verification of the trail: every entry's hash, the chain links, the ids without gaps, and at
// every checkpoint the Merkle root, the link to the previous checkpoint and its signature with
// the published key. It stops at the first problem and names the entry or checkpoint.
import { type Db, withTransaction } from '../platform/db/database.ts'
import {
  type AuditEntry,
  type CheckpointBody,
  checkpointHash,
  checkpointPayload,
  contentHash,
  genesisHash,
} from './chain.ts'
import { compareWithExported } from './checkpoint-sink.ts'
import { appendLeaf, emptyFrontier, type Frontier, frontierRoot, leafHash } from './merkle.ts'
import type { Checkpoint } from './sealer.ts'
import { verifySignature } from './signing-key.ts'

export type VerifyResult = {
  valid: boolean
  checkedEntries: number
  checkedCheckpoints: number
  firstEntry: number | null
  lastEntry: number | null
  /** Entries 1..archivedThrough are in archive bundles, not checked here (0: none). */
  archivedThrough: number
  problem: { entryId?: number; checkpointTreeSize?: number; reason: string } | null
}

export type StoredCheckpoint = CheckpointBody & {
  checkpoint_hash: string
  signature: string
  frontier: string[]
}
export type StoredEntry = AuditEntry & { content_hash: string }

const iso = (value: unknown) => (value instanceof Date ? value.toISOString() : String(value))

/** Where a trail comes from: the store, or an exported archive (offline verification). */
export type TrailSource = {
  /** Public keys (SPKI base64) by key id: the trust anchors. */
  keys: Map<string, string>
  /** Every checkpoint, by ascending tree size. */
  checkpoints: StoredCheckpoint[]
  /** The first entry it holds; those before are archived (1: the whole trail). */
  firstId: number
  /** Entries with id > afterId in id order (a gap is a missing entry). */
  entries(afterId: number): AsyncIterable<StoredEntry>
  /** The content hash of one entry (the link into a range that starts mid-trail), including
   * entry firstId - 1 (genesis for 0). */
  contentHashOf(id: number): Promise<string | null>
}

/** The store as a trail source, read in pages of 5,000 entries. */
export async function storeSource(db: Db): Promise<TrailSource> {
  const keys = new Map(
    (
      await db<
        { key_id: string; public_key_spki: string }[]
      >`select key_id, public_key_spki from audit_signing_keys`
    ).map((k) => [k.key_id, k.public_key_spki]),
  )
  const checkpoints = (
    await db<StoredCheckpoint[]>`
      select tree_size::float8, root_hash, frontier, previous_checkpoint_hash, checkpoint_hash, signature, key_id, created_at
        from audit_log_verification order by audit_log_verification.tree_size`
  ).map((c) => ({ ...c, created_at: iso(c.created_at) }))
  const [archived] = await db<{ last_id: number; last_content_hash: string }[]>`
    select last_id::float8, last_content_hash from audit_logs_archive
     order by audit_logs_archive.last_id desc limit 1`
  return {
    keys,
    checkpoints,
    firstId: (archived?.last_id ?? 0) + 1,
    async *entries(afterId) {
      let cursor = afterId
      for (;;) {
        const rows = await db<StoredEntry[]>`
          select id::float8, event_id::text, event_type, resource_type, resource_id, action, outcome, actor_type, actor_id,
                 session_id, request_id, ip_address, user_agent, changes, old_values, new_values, created_at, sealed_at,
                 previous_hash, content_hash
            from audit_logs where id > ${cursor} order by audit_logs.id limit 5000`
        for (const row of rows)
          yield { ...row, created_at: iso(row.created_at), sealed_at: iso(row.sealed_at) }
        if (rows.length < 5000) return
        cursor = rows.at(-1)?.id ?? cursor
      }
    },
    async contentHashOf(id) {
      if (id === 0) return genesisHash
      if (id === archived?.last_id) return archived.last_content_hash
      const [row] = await db<{ content_hash: string }[]>`select content_hash from audit_logs where id = ${id}`
      return row?.content_hash ?? null
    },
  }
}

/** Verifies the store's trail (see verifySource), in one snapshot: a batch commits its entries
 * and its checkpoint together, but checkpoints read before a batch and entries read after it
 * would show entries that no checkpoint covers. `exported` must be read before the call (a
 * checkpoint is exported after its commit, so it is never newer than the snapshot). */
export async function verifyTrail(
  db: Db,
  range: { fromId?: number; toId?: number } = {},
  exported?: Checkpoint | null,
): Promise<VerifyResult> {
  return withTransaction(
    db,
    async (tx) => verifySource(await storeSource(tx), range, exported),
    'isolation level repeatable read read only',
  )
}

/** Verifies entries from `fromId` (default 1) to `toId` (default: the end), from the checkpoint
 * before; with `exported`, also that the trail has not been rolled back behind it. */
export async function verifySource(
  source: TrailSource,
  range: { fromId?: number; toId?: number } = {},
  exported?: Checkpoint | null,
): Promise<VerifyResult> {
  const { keys, checkpoints } = source
  const archivedThrough = source.firstId - 1
  const from = Math.max(source.firstId, range.fromId ?? 1)
  // Start from the last checkpoint before the range: its frontier and hash are the state there.
  const start = [...checkpoints].reverse().find((c) => c.tree_size < from)
  let frontier: Frontier = start
    ? { size: start.tree_size, roots: start.frontier.map((h) => Buffer.from(h, 'hex')) }
    : emptyFrontier()
  let previousCheckpoint = start?.checkpoint_hash ?? genesisHash
  let previousHash = genesisHash
  const pending = checkpoints.filter((c) => c.tree_size > frontier.size)
  const lastCheckpoint = checkpoints.at(-1)?.tree_size ?? 0
  // A range ends at the first checkpoint covering its last entry, so every entry checked is signed.
  const stopAt =
    range.toId === undefined
      ? Number.POSITIVE_INFINITY
      : (checkpoints.find((c) => c.tree_size >= (range.toId as number))?.tree_size ??
        Number.POSITIVE_INFINITY)
  let checkedEntries = 0
  let checkedCheckpoints = 0
  let firstEntry: number | null = null

  function fail(problem: NonNullable<VerifyResult['problem']>): VerifyResult {
    return {
      valid: false,
      checkedEntries,
      checkedCheckpoints,
      firstEntry,
      lastEntry: frontier.size || null,
      archivedThrough,
      problem,
    }
  }

  /** Root over the entries so far, link to the previous checkpoint (unless null: not known), hash, signature. */
  async function checkCheckpoint(cp: StoredCheckpoint, linkTo: string | null): Promise<string | null> {
    const body: CheckpointBody = {
      tree_size: cp.tree_size,
      root_hash: cp.root_hash,
      previous_checkpoint_hash: cp.previous_checkpoint_hash,
      key_id: cp.key_id,
      created_at: cp.created_at,
    }
    if (frontierRoot(frontier).toString('hex') !== cp.root_hash)
      return 'its Merkle root does not match the entries'
    if (linkTo !== null && cp.previous_checkpoint_hash !== linkTo)
      return 'it does not link to the previous checkpoint'
    if (checkpointHash(body) !== cp.checkpoint_hash) return 'its checkpoint hash does not match its content'
    const spki = keys.get(cp.key_id)
    if (!spki) return `its signing key ${cp.key_id} is unknown`
    if (!(await verifySignature(spki, checkpointPayload(body), cp.signature)))
      return 'its signature is not valid'
    return null
  }

  if (start) {
    // The state there is trusted only through the start checkpoint's own root and signature.
    const reason = await checkCheckpoint(start, null)
    if (reason)
      return fail({ checkpointTreeSize: start.tree_size, reason: `checkpoint ${start.tree_size}: ${reason}` })
    const hash = await source.contentHashOf(start.tree_size)
    if (!hash) return fail({ entryId: start.tree_size, reason: `entry ${start.tree_size} is missing` })
    previousHash = hash
  }

  for await (const stored of source.entries(frontier.size)) {
    if (frontier.size >= stopAt) break
    const expected = frontier.size + 1
    if (stored.id !== expected) return fail({ entryId: expected, reason: `entry ${expected} is missing` })
    const { content_hash, ...entry } = stored
    if (entry.previous_hash !== previousHash)
      return fail({ entryId: stored.id, reason: 'its previous_hash does not link to the entry before it' })
    if (contentHash(entry) !== content_hash)
      return fail({
        entryId: stored.id,
        reason: 'its content does not match its content_hash (the entry was altered)',
      })
    frontier = appendLeaf(frontier, leafHash(Buffer.from(content_hash, 'hex')))
    previousHash = content_hash
    firstEntry ??= stored.id
    checkedEntries++
    if (pending[0]?.tree_size === frontier.size) {
      const cp = pending.shift() as StoredCheckpoint
      const reason = await checkCheckpoint(cp, previousCheckpoint)
      if (reason)
        return fail({ checkpointTreeSize: cp.tree_size, reason: `checkpoint ${cp.tree_size}: ${reason}` })
      previousCheckpoint = cp.checkpoint_hash
      checkedCheckpoints++
    }
  }
  if (frontier.size < Math.min(lastCheckpoint, stopAt))
    return fail({
      entryId: frontier.size + 1,
      reason: `entries ${frontier.size + 1} to ${lastCheckpoint} are missing (the trail was truncated)`,
    })
  if (exported) {
    const stored = checkpoints.find((c) => c.tree_size === exported.tree_size) ?? checkpoints.at(-1)
    const reason = compareWithExported(exported, stored)
    if (reason) return fail({ checkpointTreeSize: exported.tree_size, reason })
  }
  if (range.toId === undefined && frontier.size > lastCheckpoint)
    return fail({
      entryId: lastCheckpoint + 1,
      reason: `entry ${lastCheckpoint + 1} is not covered by any signed checkpoint`,
    })
  return {
    valid: true,
    checkedEntries,
    checkedCheckpoints,
    firstEntry,
    lastEntry: frontier.size || null,
    archivedThrough,
    problem: null,
  }
}
