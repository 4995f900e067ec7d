// Archiving: sealed entries older than the retention policy's archive_after_days move from
// audit_logs into compressed bundles in object storage. A bundle always ends at a checkpoint, so
// it carries the signed roots that authenticate every entry in it, and live verification resumes
// after it from that checkpoint's frontier. The order of a run makes a crash harmless:
//   1. verify the range in the store (never archive a broken trail);
//   2. write the bundle and its signed manifest, read the bundle back and verify it, bytes and
//      signatures, with the published keys;
//   3. in one transaction: record it in audit_logs_archive, remove the range from audit_logs (the
//      trigger lets only that transaction remove exactly that range), record an audit event.
// A crash before 3 leaves an object no record points to, rewritten by the next run; after 3 the
// range is archived. Bundles are deleted past retention only when every policy allows it.
import { createHash } from 'node:crypto'
import type { Keyring } from '../keys/keyring.ts'
import type { BlobStore } from '../platform/blob/blob-store.ts'
import { canonicalJson } from '../platform/canonical-json.ts'
import { type Db, isoTimestamp, withTransaction } from '../platform/db/database.ts'
import type { Logger } from '../platform/log.ts'
import { archiveSource, bundleRange } from './archive.ts'
import { genesisHash } from './chain.ts'
import { recordAuditEvent, systemAudit } from './events.ts'
import { effectiveRetention, listPolicies } from './retention.ts'
import { loadSigningKey, publicKeys, sign } from './signing-key.ts'
import { type VerifyResult, verifySource, verifyTrail } from './verify.ts'

export const manifestFormat = 'pganalytics-audit-bundle-manifest/1'

export type ArchiveRecord = {
  id: number
  firstId: number
  lastId: number
  entryCount: number
  firstCreatedAt: string
  lastCreatedAt: string
  previousHash: string
  lastContentHash: string
  store: string
  objectKey: string
  sha256: string
  sizeBytes: number
  archivedAt: string
  expiredAt: string | null
}

export type ArchiveRun = { archived: ArchiveRecord[]; expired: ArchiveRecord[]; archivingEnabled: boolean }

export type ArchiverOptions = {
  db: Db
  blob: BlobStore
  keyring: () => Keyring
  log: Logger
  /** Most entries in one bundle (a bundle may hold more when one sealed batch is larger). */
  bundleEntries: number
  now?: () => Date
}

const recordColumns = `id::float8, first_id::float8 as "firstId", last_id::float8 as "lastId",
  entry_count::float8 as "entryCount", ${isoTimestamp('first_created_at')} as "firstCreatedAt",
  ${isoTimestamp('last_created_at')} as "lastCreatedAt", previous_hash as "previousHash",
  last_content_hash as "lastContentHash", store, object_key as "objectKey", sha256, size_bytes::float8 as "sizeBytes",
  ${isoTimestamp('archived_at')} as "archivedAt", ${isoTimestamp('expired_at')} as "expiredAt"`

export async function listArchives(db: Db): Promise<ArchiveRecord[]> {
  return db.unsafe<ArchiveRecord[]>(`select ${recordColumns} from audit_logs_archive order by first_id`)
}

const objectKeyOf = (firstId: number, lastId: number) =>
  `audit/bundles/${String(firstId).padStart(12, '0')}-${String(lastId).padStart(12, '0')}.jsonl.gz`
const manifestKeyOf = (objectKey: string) => objectKey.replace(/\.jsonl\.gz$/, '.manifest.json')
const sha256Hex = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')

export class AuditArchiver {
  private running: Promise<ArchiveRun> | null = null

  constructor(private readonly options: ArchiverOptions) {}

  get description() {
    return this.options.blob.description
  }

  /** Archives every due range and expires what retention allows. One run at a time per process;
   * across replicas the archive table's contiguity check refuses a second record of a range. */
  run(): Promise<ArchiveRun> {
    this.running ??= this.runOnce().finally(() => {
      this.running = null
    })
    return this.running
  }

  private async runOnce(): Promise<ArchiveRun> {
    const { db } = this.options
    const retention = effectiveRetention(await listPolicies(db))
    const now = this.options.now?.() ?? new Date()
    const archived: ArchiveRecord[] = []
    if (retention.archiveAfterDays !== null) {
      const cutoff = new Date(now.getTime() - retention.archiveAfterDays * 86_400_000)
      for (;;) {
        const record = await this.archiveNext(cutoff)
        if (!record) break
        archived.push(record)
      }
    }
    const expired = retention.deletionAllowed
      ? await this.expire(new Date(now.getTime() - retention.retentionDays * 86_400_000))
      : []
    return { archived, expired, archivingEnabled: retention.archiveAfterDays !== null }
  }

  /** The next range due: from the first live entry to a checkpoint before the first entry not
   * yet due, never the newest checkpoint (the chain head stays live for the sealer). */
  private async nextRange(cutoff: Date): Promise<{ firstId: number; lastId: number } | null> {
    const [row] = await this.options.db<{ firstId: number; lastId: number | null }[]>`
      with live as (select coalesce(max(last_id), 0) + 1 as first_id from audit_logs_archive),
           due as (
             select coalesce((select min(l.id) from audit_logs l, live
                               where l.id >= live.first_id and l.created_at >= ${cutoff}),
                             (select max(tree_size) from audit_log_verification)) as before_id),
           candidates as (
             select v.tree_size from audit_log_verification v, live, due
              where v.tree_size >= live.first_id and v.tree_size < due.before_id
                and v.tree_size < (select max(tree_size) from audit_log_verification))
      select live.first_id::float8 as "firstId",
             coalesce((select max(tree_size) from candidates where tree_size < live.first_id + ${this.options.bundleEntries}),
                      (select min(tree_size) from candidates))::float8 as "lastId"
        from live`
    return row?.lastId ? { firstId: row.firstId, lastId: row.lastId } : null
  }

  private async archiveNext(cutoff: Date): Promise<ArchiveRecord | null> {
    const { db, blob, log } = this.options
    const range = await this.nextRange(cutoff)
    if (!range) return null
    const { firstId, lastId } = range
    const inStore = await verifyTrail(db, { fromId: firstId, toId: lastId })
    if (!inStore.valid || inStore.lastEntry !== lastId)
      throw new Error(
        `not archiving entries ${firstId}-${lastId}: the trail does not verify (${inStore.problem?.reason ?? 'incomplete'})`,
      )

    const { bytes, entries } = await bundleRange(db, lastId)
    const objectKey = objectKeyOf(firstId, lastId)
    const sha256 = sha256Hex(bytes)
    const [bounds] = await db<
      { firstCreatedAt: string; lastCreatedAt: string; previousHash: string; lastContentHash: string }[]
    >`select min(created_at) as "firstCreatedAt", max(created_at) as "lastCreatedAt",
             coalesce((select last_content_hash from audit_logs_archive where last_id = ${firstId - 1}),
                      (select content_hash from audit_logs where id = ${firstId - 1}),
                      repeat('0', 64)) as "previousHash",
             (select content_hash from audit_logs where id = ${lastId}) as "lastContentHash"
        from audit_logs where id between ${firstId} and ${lastId}`
    if (!bounds || entries !== lastId - firstId + 1)
      throw new Error(`bundle ${objectKey} holds ${entries} entries, expected ${lastId - firstId + 1}`)
    const [checkpoint] = await db<{ tree_size: number; root_hash: string; checkpoint_hash: string }[]>`
      select tree_size::float8, root_hash, checkpoint_hash from audit_log_verification where tree_size = ${lastId}`
    const key = await loadSigningKey(db, this.options.keyring())
    const manifestBody = {
      format: manifestFormat,
      objectKey,
      firstId,
      lastId,
      entryCount: entries,
      firstCreatedAt: new Date(bounds.firstCreatedAt).toISOString(),
      lastCreatedAt: new Date(bounds.lastCreatedAt).toISOString(),
      previousHash: bounds.previousHash,
      lastContentHash: bounds.lastContentHash,
      checkpoint,
      sha256,
      sizeBytes: bytes.length,
      createdAt: new Date().toISOString(),
      keyId: key.keyId,
    }
    const manifest = { ...manifestBody, signature: await sign(key, canonicalJson(manifestBody)) }

    await blob.put(objectKey, bytes, 'application/gzip')
    await blob.put(
      manifestKeyOf(objectKey),
      Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`),
      'application/json',
    )
    const readBack = await blob.get(objectKey)
    if (!readBack || sha256Hex(readBack) !== sha256)
      throw new Error(
        `bundle ${objectKey} read back from ${blob.description} does not match what was written`,
      )
    const offline = await verifyBundle(
      readBack,
      (await publicKeys(db)).map((k) => k.publicKeySpki),
    )
    if (!offline.valid || offline.firstEntry !== firstId || offline.lastEntry !== lastId)
      throw new Error(`bundle ${objectKey} does not verify: ${offline.problem?.reason ?? 'incomplete range'}`)

    const record = await withTransaction(db, async (tx) => {
      const [inserted] = await tx.unsafe<ArchiveRecord[]>(
        `insert into audit_logs_archive (first_id, last_id, entry_count, first_created_at, last_created_at,
                                         previous_hash, last_content_hash, store, object_key, sha256, size_bytes)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         returning ${recordColumns}`,
        [
          firstId,
          lastId,
          entries,
          manifestBody.firstCreatedAt,
          manifestBody.lastCreatedAt,
          manifestBody.previousHash,
          manifestBody.lastContentHash,
          blob.description,
          objectKey,
          sha256,
          bytes.length,
        ],
      )
      const archive = inserted as ArchiveRecord
      await tx`select set_config('pga.audit_archive_id', ${String(archive.id)}, true)`
      const removed = await tx`delete from audit_logs where id between ${firstId} and ${lastId}`
      if (removed.count !== entries) throw new Error(`removed ${removed.count} entries, expected ${entries}`)
      await recordAuditEvent(tx, systemAudit('audit-archiver'), {
        eventType: 'audit.archived',
        resourceType: 'audit_archive',
        resourceId: String(archive.id),
        action: 'execute',
        changes: {
          firstId,
          lastId,
          entries,
          store: blob.description,
          objectKey,
          sha256,
          sizeBytes: bytes.length,
        },
      })
      return archive
    })
    log.info('audit entries archived', {
      firstId,
      lastId,
      objectKey,
      store: blob.description,
      bytes: bytes.length,
    })
    return record
  }

  /** Deletes bundles whose newest entry is older than the retention (deletion allowed by every policy). */
  private async expire(before: Date): Promise<ArchiveRecord[]> {
    const { db, blob, log } = this.options
    const due = await db.unsafe<ArchiveRecord[]>(
      `select ${recordColumns} from audit_logs_archive
        where expired_at is null and last_created_at < $1 order by first_id`,
      [before.toISOString()],
    )
    const expired: ArchiveRecord[] = []
    for (const archive of due) {
      await blob.delete(archive.objectKey)
      await blob.delete(manifestKeyOf(archive.objectKey))
      const [updated] = await withTransaction(db, async (tx) => {
        const rows = await tx.unsafe<ArchiveRecord[]>(
          `update audit_logs_archive set expired_at = now() where id = $1 returning ${recordColumns}`,
          [archive.id],
        )
        await recordAuditEvent(tx, systemAudit('audit-archiver'), {
          eventType: 'audit.archive_expired',
          resourceType: 'audit_archive',
          resourceId: String(archive.id),
          action: 'delete',
          changes: { firstId: archive.firstId, lastId: archive.lastId, objectKey: archive.objectKey },
        })
        return rows
      })
      log.info('audit archive bundle deleted past retention', { objectKey: archive.objectKey })
      expired.push(updated as ArchiveRecord)
    }
    return expired
  }

  /** Fetches every bundle still kept and verifies it: its bytes against the record, its entries
   * and signatures against the published keys, and the links between consecutive bundles. */
  async verifyArchives(): Promise<{
    checked: number
    problem: { archiveId: number; reason: string } | null
  }> {
    const { db, blob } = this.options
    const keys = (await publicKeys(db)).map((k) => k.publicKeySpki)
    let previous: ArchiveRecord | null = null
    let checked = 0
    for (const archive of await listArchives(db)) {
      const fail = (reason: string) => ({ checked, problem: { archiveId: archive.id, reason } })
      if (
        archive.firstId !== (previous?.lastId ?? 0) + 1 ||
        archive.previousHash !== (previous?.lastContentHash ?? genesisHash)
      )
        return fail(`bundle ${archive.objectKey} does not follow the bundle before it`)
      previous = archive
      if (archive.expiredAt) continue
      const bytes = await blob.get(archive.objectKey)
      if (!bytes) return fail(`bundle ${archive.objectKey} is missing from ${blob.description}`)
      if (sha256Hex(bytes) !== archive.sha256)
        return fail(`bundle ${archive.objectKey} was altered (SHA-256 differs)`)
      const result = await verifyBundle(bytes, keys)
      if (!result.valid) return fail(`bundle ${archive.objectKey}: ${result.problem?.reason}`)
      if (result.firstEntry !== archive.firstId || result.lastEntry !== archive.lastId)
        return fail(`bundle ${archive.objectKey} does not hold entries ${archive.firstId}-${archive.lastId}`)
      checked++
    }
    return { checked, problem: null }
  }
}

/** Verifies a bundle's bytes as `pganalytics audit verify --archive` does, against trusted keys. */
export async function verifyBundle(bytes: Uint8Array, trustedKeys: string[]): Promise<VerifyResult> {
  const source = await archiveSource(bytes, trustedKeys)
  return verifySource(source, {
    fromId: source.header.firstId,
    ...(source.header.lastId ? { toId: source.header.lastId } : {}),
  })
}
