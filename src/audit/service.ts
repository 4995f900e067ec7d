// Service verbs of the audit API: search the trail, read one entry, verify, publish the keys.
// Reading the trail is itself an audit event (PCI-DSS 10.2.1.3 / 10.2.3).
import { ConflictError, NotFoundError } from '../http/errors.ts'
import type { Db } from '../platform/db/database.ts'
import type { AuditArchiver } from './archiver.ts'
import { listArchives as archiveRecords } from './archiver.ts'
import type { CheckpointSink } from './checkpoint-sink.ts'
import { type AuditContext, recordAuditEvent } from './events.ts'
import { ArchivedLeafError, consistencyProof, inclusionProof, leafHash, treeOf } from './merkle.ts'
import * as repo from './repo.ts'
import type { Framework } from './reports.ts'
import { effectiveRetention, listPolicies, type RetentionPolicyInput, updatePolicy } from './retention.ts'
import { publicKeys } from './signing-key.ts'
import { verifyTrail } from './verify.ts'

export type AuditServiceContext = {
  db: Db
  audit: AuditContext
  sink?: CheckpointSink | null
  archiver?: AuditArchiver | null
}

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

export async function verify(
  ctx: AuditServiceContext,
  input: { fromId?: number; toId?: number; archives?: boolean | undefined },
) {
  const { archives, ...range } = input
  const live = await verifyTrail(ctx.db, range, await ctx.sink?.latest())
  const bundles = archives ? await archiverOf(ctx).verifyArchives() : undefined
  const result = bundles ? { ...live, valid: live.valid && !bundles.problem, archives: bundles } : live
  await recordAuditEvent(ctx.db, ctx.audit, {
    eventType: 'audit.verified',
    resourceType: 'audit_log',
    action: 'execute',
    outcome: result.valid ? 'success' : 'failure',
    changes: {
      range,
      archives: archives ?? false,
      valid: result.valid,
      problem: result.problem ?? bundles?.problem ?? null,
    },
  })
  return result
}

function archiverOf(ctx: AuditServiceContext): AuditArchiver {
  if (!ctx.archiver)
    throw new ConflictError(
      'archive_store_not_configured',
      'No archive store is configured (PGA_AUDIT_ARCHIVE_URL): audit entries stay in the database.',
    )
  return ctx.archiver
}

export async function retentionPolicies(ctx: AuditServiceContext) {
  const items = await listPolicies(ctx.db)
  return { items, effective: effectiveRetention(items), archiveStore: ctx.archiver?.description ?? null }
}

export async function updateRetentionPolicy(
  ctx: AuditServiceContext,
  framework: Framework,
  input: RetentionPolicyInput,
) {
  return updatePolicy(ctx.db, ctx.audit, framework, input)
}

export async function listArchives(ctx: AuditServiceContext) {
  const items = await archiveRecords(ctx.db)
  await recordRead(ctx, { archives: items.length })
  return { items }
}

/** Archives what is due and expires what retention allows, now rather than at the next interval. */
export async function runArchiving(ctx: AuditServiceContext) {
  const run = await archiverOf(ctx).run()
  await recordAuditEvent(ctx.db, ctx.audit, {
    eventType: 'audit.archive_run',
    resourceType: 'audit_archive',
    action: 'execute',
    changes: {
      archived: run.archived.map((a) => [a.firstId, a.lastId]),
      expired: run.expired.map((a) => [a.firstId, a.lastId]),
    },
  })
  return run
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
  const archive = await repo.archivedPrefix(ctx.db)
  if (id <= archive.size)
    throw new NotFoundError(
      `Entry ${id} is archived; its bundle verifies offline (GET /api/v1/audit/archives).`,
      'entry_archived',
    )
  const entry = await repo.hashedEntry(ctx.db, id)
  if (!entry) throw new NotFoundError(`Audit entry ${id} does not exist.`)
  const leaves = await liveLeaves(ctx.db, archive.size, checkpoint.tree_size)
  await recordRead(ctx, { proofOf: id, treeSize: checkpoint.tree_size }, String(id))
  return {
    leafIndex: id - 1,
    treeSize: checkpoint.tree_size,
    entry,
    leafHash: (leaves[id - 1 - archive.size] as Buffer).toString('hex'),
    auditPath: inclusionProof(id - 1, treeOf(leaves, archive)).map((h) => h.toString('hex')),
    checkpoint,
  }
}

const liveLeaves = async (db: Db, archived: number, treeSize: number) =>
  (await repo.contentHashes(db, archived, treeSize)).map((h) => leafHash(Buffer.from(h, 'hex')))

/** Consistency proof (RFC 9162) between two checkpoints: the older tree is a prefix of the newer. */
export async function consistencyProofOf(ctx: AuditServiceContext, first: number, second: number) {
  const [older, newer] = await Promise.all([
    repo.checkpointFor(ctx.db, first),
    repo.checkpointFor(ctx.db, second),
  ])
  if (!older || !newer)
    throw new NotFoundError(`No checkpoint has tree size ${older ? second : first}.`, 'checkpoint_not_found')
  const archive = await repo.archivedPrefix(ctx.db)
  let proof: Buffer[]
  try {
    proof = consistencyProof(first, treeOf(await liveLeaves(ctx.db, archive.size, second), archive))
  } catch (error) {
    if (!(error instanceof ArchivedLeafError)) throw error
    throw new ConflictError(
      'proof_needs_archived_entries',
      `The proof from tree size ${first} needs entries that are archived (up to ${archive.size}); verify the bundles offline instead.`,
    )
  }
  await recordRead(ctx, { consistency: { first, second } })
  return { first: older, second: newer, proof: proof.map((h) => h.toString('hex')) }
}

export async function listCheckpoints(ctx: Pick<AuditServiceContext, 'db'>, limit: number, before?: number) {
  return { items: await repo.listCheckpoints(ctx.db, limit, before) }
}
