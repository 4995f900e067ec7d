// Retention and garbage collection of a repository, per instance:
// - keep the newest N full backups and/or those younger than D days, each with its whole chain
//   (the incrementals and differentials that build on it); never the newest chain;
// - keep the WAL a kept backup needs (from the oldest kept backup's start on);
// - delete the objects of backups that have no live record (a run that failed or crashed before
//   cleaning up), never those of a pending or running backup (mark: the records; sweep: the
//   repository's listing), under the repository's lease.
import { parseLsn, parseSegmentName, segmentName, timelineHex } from './manifest.ts'
import * as repo from './repo.ts'
import type { BackupRepository } from './repository.ts'
import type { RunnerDeps } from './runner.ts'
import { withLease } from './runner.ts'

export type RetentionPolicy = { fullCount: number | null; days: number | null }
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

export async function applyRetention(
  deps: RunnerDeps,
  repository: BackupRepository,
  repositoryId: string,
  instanceId: string,
  policy: RetentionPolicy,
): Promise<RetentionOutcome | undefined> {
  if (policy.fullCount === null && policy.days === null)
    return { deletedBackups: [], deletedWal: 0, orphanBackups: [] }
  return withLease(deps.state, deps.replicaId, `backup:gc:${repositoryId}`, async () => {
    const kept = await repo.keptBackups(deps.db, instanceId, repositoryId)
    const physical = kept.filter((b) => b.backupType !== 'logical')
    const fulls = physical.filter((b) => b.backupType === 'full' && b.finishedAt) as (repo.BackupRow & {
      finishedAt: Date
    })[]
    const expired = new Set(expiredChains(fulls, policy, Date.now()))
    const logicalExpired = expiredChains(
      kept.filter((b) => b.backupType === 'logical' && b.finishedAt) as (repo.BackupRow & {
        finishedAt: Date
      })[],
      policy,
      Date.now(),
    )
    // A backup being restored stays until its restore ends (its chain with it).
    const restoring = new Set(
      (
        await deps.db<{ id: string }[]>`
          select b.chain_id as id from restore_operations r join backup_metadata b on b.id = r.backup_id
          where r.status in ('pending', 'running')`
      ).map((r) => r.id),
    )
    const doomed = [
      ...physical
        .filter((b) => expired.has(b.chainId ?? '') && !restoring.has(b.chainId ?? ''))
        .map((b) => b.id),
      ...logicalExpired,
    ]
    // Dependents first, the full last: a half-done deletion never leaves a chain without its base.
    for (const id of doomed.reverse()) {
      await repository.deleteBackup(id)
      await repo.markDeleted(deps.db, id)
    }
    const deletedWal = await pruneWal(
      repository,
      physical.filter((b) => !expired.has(b.chainId ?? '')),
    )
    const orphanBackups = await collectGarbage(deps, repository, repositoryId)
    return { deletedBackups: doomed, deletedWal, orphanBackups }
  })
}

/** Removes WAL older than what the oldest kept backup needs. */
async function pruneWal(repository: BackupRepository, kept: repo.BackupRow[]): Promise<number> {
  const starts = kept.filter((b) => b.startLsn && b.timeline)
  if (starts.length === 0) return 0
  const oldest = starts.reduce((a, b) =>
    parseLsn(a.startLsn as string) < parseLsn(b.startLsn as string) ? a : b,
  )
  const { manifest } = await repository.getManifest(oldest.id)
  const first = segmentName(
    oldest.timeline as number,
    parseLsn(oldest.startLsn as string),
    manifest.walSegmentSize,
  )
  const firstSegno = parseSegmentName(first, manifest.walSegmentSize)?.segno ?? 0n
  let deleted = 0
  for (const timeline of await repository.walTimelines()) {
    if (Number.parseInt(timeline, 16) > (oldest.timeline as number)) continue
    for (const name of await repository.listWal(timeline)) {
      const parsed = parseSegmentName(name, manifest.walSegmentSize)
      if (!parsed || parsed.segno >= firstSegno) continue
      await repository.deleteWal(timelineHex(parsed.timeline), name)
      deleted++
    }
  }
  return deleted
}

/** Deletes the objects of backups no live record accounts for. */
export async function collectGarbage(deps: RunnerDeps, repository: BackupRepository, repositoryId: string) {
  // List first, then read the records: a backup's record exists before it writes any object, so
  // one that starts in between is live by the time the records are read.
  const stored = await repository.storedBackupIds()
  const live = await repo.liveBackupIds(deps.db, repositoryId)
  const orphans = stored.filter((id) => !live.has(id))
  for (const id of orphans) await repository.deleteBackup(id)
  return orphans
}
