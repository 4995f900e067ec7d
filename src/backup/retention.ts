// Retention and garbage collection of a repository, under the repository's lease:
// - a schedule's policy applies, in its instance and repository, to the kind of backups it takes,
//   whoever took them: physical backups as chains (keep the newest N fulls and/or those younger
//   than D days, each with the incrementals and differentials built on it; never the newest
//   chain), logical backups per database (the same rule, each backup on its own);
// - a backup a pending or running restore uses is never marked deleted (a physical one: nor any
//   backup of its chain), so it and the WAL from its start stay;
// - WAL older than what the oldest kept physical backup needs is deleted (physical policies only),
//   keeping what backups present in the repository but unknown to the store need too;
// - garbage collection deletes only objects of backups the store records as gone (deleted,
//   failed, cancelled), and keeps every chunk a manifest present in the repository references:
//   a backup the store does not know (another installation's, or taken after the backup a store
//   was restored from) is never touched. Running backups have live records (mark: the records;
//   sweep: the repository's listing).
import { withTransaction } from '../platform/db/database.ts'
import type { BackupManifest } from './manifest.ts'
import { parseLsn, parseSegmentName, segmentName, timelineHex } from './manifest.ts'
import * as repo from './repo.ts'
import type { BackupRepository } from './repository.ts'
import type { RunnerDeps } from './runner.ts'
import { withLease } from './runner.ts'

export type RetentionPolicy = { fullCount: number | null; days: number | null }
/** What a schedule's policy counts: physical chains, or the logical backups of one database. */
export type RetentionScope = { kind: 'physical' } | { kind: 'logical'; database: string | null }
export type RetentionOutcome = { deletedBackups: string[]; deletedWal: number; orphanBackups: string[] }

/** The chains to delete under a policy: full backups (with their chains) beyond it. */
export function expiredChains(
  fulls: { id: string; finishedAt: Date }[],
  policy: RetentionPolicy,
  now: number,
): string[] {
  const newestFirst = [...fulls].sort((a, b) => b.finishedAt.getTime() - a.finishedAt.getTime())
  return newestFirst
    .filter((full, index) => {
      if (index === 0) return false
      const beyondCount = policy.fullCount !== null && index >= policy.fullCount
      const beyondAge = policy.days !== null && now - full.finishedAt.getTime() > policy.days * 86_400_000
      return policy.fullCount !== null && policy.days !== null
        ? beyondCount && beyondAge
        : beyondCount || beyondAge
    })
    .map((full) => full.id)
}

/** The kept backups a policy expires in its scope. */
export function expiredBackups(
  kept: repo.BackupRow[],
  policy: RetentionPolicy,
  scope: RetentionScope,
  now: number,
): string[] {
  const finished = kept.filter((b): b is repo.BackupRow & { finishedAt: Date } => b.finishedAt !== null)
  if (scope.kind === 'logical')
    return expiredChains(
      finished.filter((b) => b.backupType === 'logical' && b.databaseName === scope.database),
      policy,
      now,
    )
  const physical = finished.filter((b) => b.backupType !== 'logical')
  const chains = new Set(
    expiredChains(
      physical.filter((b) => b.backupType === 'full'),
      policy,
      now,
    ),
  )
  return physical.filter((b) => chains.has(b.chainId ?? '')).map((b) => b.id)
}

export async function applyRetention(
  deps: RunnerDeps,
  repository: BackupRepository,
  repositoryId: string,
  instanceId: string,
  policy: RetentionPolicy,
  scope: RetentionScope,
): Promise<RetentionOutcome | undefined> {
  if (policy.fullCount === null && policy.days === null)
    return { deletedBackups: [], deletedWal: 0, orphanBackups: [] }
  return withLease(deps.state, deps.replicaId, `backup:gc:${repositoryId}`, async () => {
    const kept = await repo.keptBackups(deps.db, instanceId, repositoryId)
    const expired = expiredBackups(kept, policy, scope, Date.now())
    // The rows are locked first: a restore recorded until then is seen, later ones are refused.
    const deleted = new Set(
      expired.length === 0
        ? []
        : await withTransaction(deps.db, async (tx) => {
            await repo.lockBackups(tx, expired)
            return repo.markDeletedUnlessRestoring(tx, expired)
          }),
    )
    const swept = await collectGarbage(deps, repository)
    const deletedWal =
      scope.kind === 'physical'
        ? await pruneWal(
            repository,
            kept.filter((b) => b.backupType !== 'logical' && !deleted.has(b.id)),
            swept.unknown,
          )
        : 0
    return {
      deletedBackups: expired.filter((id) => deleted.has(id)),
      deletedWal,
      orphanBackups: swept.removed.filter((id) => !deleted.has(id)),
    }
  })
}

/** Removes WAL older than the oldest start a kept physical backup, or a physical backup the
 * store does not know, needs. */
async function pruneWal(
  repository: BackupRepository,
  kept: repo.BackupRow[],
  unknown: BackupManifest[],
): Promise<number> {
  type Start = { id: string; cluster: string; timeline: number; lsn: bigint; manifest?: BackupManifest }
  const starts: Start[] = [
    ...kept
      .filter((b) => b.startLsn && b.timeline && b.systemIdentifier)
      .map((b) => ({
        id: b.id,
        cluster: b.systemIdentifier as string,
        timeline: b.timeline as number,
        lsn: parseLsn(b.startLsn as string),
      })),
    ...unknown
      .filter((m) => m.type !== 'logical' && m.startLsn && m.instance.systemIdentifier)
      .map((m) => ({
        id: m.backupId,
        cluster: m.instance.systemIdentifier as string,
        timeline: m.timeline,
        lsn: parseLsn(m.startLsn as string),
        manifest: m,
      })),
  ]
  // Each cluster's WAL is pruned below the oldest start of its own kept backups only.
  let deleted = 0
  for (const cluster of new Set(starts.map((s) => s.cluster))) {
    const oldest = starts.filter((s) => s.cluster === cluster).reduce((a, b) => (a.lsn < b.lsn ? a : b))
    const manifest = oldest.manifest ?? (await repository.getManifest(oldest.id)).manifest
    const first = segmentName(oldest.timeline, oldest.lsn, manifest.walSegmentSize)
    const firstSegno = parseSegmentName(first, manifest.walSegmentSize)?.segno ?? 0n
    for (const timeline of await repository.walTimelines(cluster)) {
      if (Number.parseInt(timeline, 16) > oldest.timeline) continue
      for (const name of await repository.listWal(cluster, timeline)) {
        const parsed = parseSegmentName(name, manifest.walSegmentSize)
        if (!parsed || parsed.segno >= firstSegno) continue
        await repository.deleteWal(cluster, timelineHex(parsed.timeline), name)
        deleted++
      }
    }
  }
  return deleted
}

/**
 * Deletes the objects of backups the store records as gone. A chunk of one that a manifest
 * present in the repository still references stays, with the gone backup's manifest (its key is
 * there). A manifest that cannot be read stops it before anything is deleted. Returns the
 * backups removed and the manifests of backups the store does not know.
 */
export async function collectGarbage(
  deps: RunnerDeps,
  repository: BackupRepository,
): Promise<{ removed: string[]; unknown: BackupManifest[] }> {
  // List first, then read the records: a backup's record exists before it writes any object, so
  // one that starts in between is live by the time the records are read.
  const stored = await repository.storedBackupIds()
  const states = await repo.recordedStates(deps.db, stored)
  const gone = new Set(stored.filter((id) => states.get(id) === 'gone'))
  const unknown: BackupManifest[] = []
  /** Chunk ids of gone backups that other manifests reference, by owner. */
  const referenced = new Map<string, Set<string>>()
  for (const id of stored) {
    const state = states.get(id)
    // Live backups' manifests matter only when something may go.
    if (state === 'gone' || (state === 'live' && gone.size === 0)) continue
    const manifest = (await repository.findManifest(id))?.manifest
    if (!manifest) continue
    if (!state) unknown.push(manifest)
    for (const file of manifest.files)
      for (const [owner, chunk] of file.chunks ?? []) {
        const ownerId = manifest.owners[owner] as string
        if (!gone.has(ownerId)) continue
        const chunks = referenced.get(ownerId) ?? new Set<string>()
        referenced.set(ownerId, chunks.add(chunk))
      }
  }
  const removed: string[] = []
  for (const id of gone) {
    const keep = referenced.get(id)
    if (keep) {
      const count = await repository.deleteChunksExcept(id, keep)
      if (count > 0)
        deps.log.info('kept the chunks of a deleted backup that another backup reuses', {
          backupId: id,
          kept: keep.size,
          deleted: count,
        })
      continue
    }
    await repository.deleteBackup(id)
    removed.push(id)
  }
  return { removed, unknown }
}
