// What is hashed and signed. An entry's content_hash is SHA-256 over the RFC 8785 encoding of all
// its columns, previous_hash included, so editing, removing, reordering or inserting an entry
// breaks the chain; its Merkle leaf is the content hash. A checkpoint's body names the tree size,
// the Merkle root and the previous checkpoint's hash; the signature covers that body.
import { createHash } from 'node:crypto'
import { canonicalJson } from '../platform/canonical-json.ts'

export const genesisHash = '0'.repeat(64)

/** One sealed entry, as stored in audit_logs (snake_case, timestamps as ISO strings). */
export type AuditEntry = {
  id: number
  event_id: string
  event_type: string
  resource_type: string
  resource_id: string | null
  action: string
  outcome: string
  actor_type: string
  actor_id: string | null
  session_id: string | null
  request_id: string | null
  ip_address: string | null
  user_agent: string | null
  changes: unknown
  old_values: unknown
  new_values: unknown
  created_at: string
  sealed_at: string
  previous_hash: string
}

export const sha256Hex = (text: string | Buffer) => createHash('sha256').update(text).digest('hex')

export function contentHash(entry: AuditEntry): string {
  return sha256Hex(canonicalJson(entry))
}

export type CheckpointBody = {
  tree_size: number
  root_hash: string
  previous_checkpoint_hash: string
  key_id: string
  created_at: string
}

export const checkpointPayload = (body: CheckpointBody) => canonicalJson(body)
export const checkpointHash = (body: CheckpointBody) => sha256Hex(checkpointPayload(body))
