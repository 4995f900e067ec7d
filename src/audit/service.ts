// Service verbs of the audit API: search the trail, read one entry, verify, publish the keys.
// Reading the trail is itself an audit event (PCI-DSS 10.2.1.3 / 10.2.3).
import { NotFoundError } from '../http/errors.ts'
import type { Db } from '../platform/db/database.ts'
import type { CheckpointSink } from './checkpoint-sink.ts'
import { type AuditContext, recordAuditEvent } from './events.ts'
import { consistencyProof, inclusionProof, leafHash } from './merkle.ts'
import * as repo from './repo.ts'
import { publicKeys } from './signing-key.ts'
import { verifyTrail } from './verify.ts'

export type AuditServiceContext = { db: Db; audit: AuditContext; sink?: CheckpointSink | null }

async function recordRead(ctx: AuditServiceContext, what: Record<string, unknown>, resourceId?: string) {
  await recordAuditEvent(ctx.db, ctx.audit, {
    eventType: 'audit.read',
    resourceType: 'audit_log',
    resourceId,
    action: 'read',
    changes: what,
  })
}

export async function searchLogs(ctx: AuditServiceContext, filter: repo.LogFilter) {
  const page = await repo.searchLogs(ctx.db, filter)
  await recordRead(ctx, { filter: { ...filter, cursor: undefined }, returned: page.items.length })
  return page
}

export async function getLog(ctx: AuditServiceContext, id: number) {
  const entry = await repo.findLog(ctx.db, id)
  if (!entry) throw new NotFoundError(`Audit entry ${id} does not exist (or is not sealed yet).`)
  await recordRead(ctx, { entry: id }, String(id))
  return entry
}

export async function verify(ctx: AuditServiceContext, range: { fromId?: number; toId?: number }) {
  const result = await verifyTrail(ctx.db, range, await ctx.sink?.latest())
  await recordAuditEvent(ctx.db, ctx.audit, {
    eventType: 'audit.verified',
    resourceType: 'audit_log',
    action: 'execute',
    outcome: result.valid ? 'success' : 'failure',
    changes: { range, valid: result.valid, problem: result.problem },
  })
  return result
}

export async function listPublicKeys(ctx: Pick<AuditServiceContext, 'db'>) {
  return (await publicKeys(ctx.db)).map((k) => ({
    keyId: k.keyId,
    algorithm: 'RSA-PSS-SHA256 (salt 32)',
    publicKeySpki: k.publicKeySpki,
    pem: `-----BEGIN PUBLIC KEY-----\n${k.publicKeySpki.match(/.{1,64}/g)?.join('\n')}\n-----END PUBLIC KEY-----\n`,
    createdAt: k.createdAt.toISOString(),
  }))
}

/** Inclusion proof (RFC 9162) of one entry in a signed checkpoint's tree: the entry in its hashed
 * form, its leaf hash, the audit path and the checkpoint, so anyone with the public key can check
 * it in O(log n). */
export async function inclusionProofOf(ctx: AuditServiceContext, id: number, treeSize?: number) {
  const checkpoint = await repo.checkpointFor(ctx.db, treeSize ?? null)
  if (!checkpoint)
    throw new NotFoundError(
      treeSize === undefined ? 'No checkpoint exists yet.' : `No checkpoint has tree size ${treeSize}.`,
      'checkpoint_not_found',
    )
  if (id > checkpoint.tree_size)
    throw new NotFoundError(`Entry ${id} is not in the tree of size ${checkpoint.tree_size}.`, 'not_in_tree')
  const entry = await repo.hashedEntry(ctx.db, id)
  if (!entry) throw new NotFoundError(`Audit entry ${id} does not exist.`)
  const leaves = (await repo.contentHashes(ctx.db, checkpoint.tree_size)).map((h) =>
    leafHash(Buffer.from(h, 'hex')),
  )
  await recordRead(ctx, { proofOf: id, treeSize: checkpoint.tree_size }, String(id))
  return {
    leafIndex: id - 1,
    treeSize: checkpoint.tree_size,
    entry,
    leafHash: (leaves[id - 1] as Buffer).toString('hex'),
    auditPath: inclusionProof(id - 1, leaves).map((h) => h.toString('hex')),
    checkpoint,
  }
}

/** Consistency proof (RFC 9162) between two checkpoints: the older tree is a prefix of the newer. */
export async function consistencyProofOf(ctx: AuditServiceContext, first: number, second: number) {
  const [older, newer] = await Promise.all([
    repo.checkpointFor(ctx.db, first),
    repo.checkpointFor(ctx.db, second),
  ])
  if (!older || !newer)
    throw new NotFoundError(`No checkpoint has tree size ${older ? second : first}.`, 'checkpoint_not_found')
  const leaves = (await repo.contentHashes(ctx.db, second)).map((h) => leafHash(Buffer.from(h, 'hex')))
  await recordRead(ctx, { consistency: { first, second } })
  return {
    first: older,
    second: newer,
    proof: consistencyProof(first, leaves).map((h) => h.toString('hex')),
  }
}

export async function listCheckpoints(ctx: Pick<AuditServiceContext, 'db'>, limit: number, before?: number) {
  return { items: await repo.listCheckpoints(ctx.db, limit, before) }
}
