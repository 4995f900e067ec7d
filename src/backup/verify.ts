// Verification of a backup in its repository, without restoring it: the manifest (its SHA-256
// against the record, its seal), every backup whose chunks it reuses (an incremental's parents),
// every chunk (present, authentic, bound to its owner, holding the content its id names), and
// the continuity of the WAL from the backup's start to the newest segment stored (a gap or a
// missing segment is named). The restore drill (drill.ts) is the deeper check an operator
// schedules; verify is what runs after every backup.
import type { BackupManifest } from './manifest.ts'
import { BackupIntegrityError, BackupKeyMismatchError, type BackupRepository } from './repository.ts'
import { backupWalRun } from './wal-archive.ts'

export type VerifyResult = {
  ok: boolean
  manifestSha256: string | null
  chunks: number
  bytes: number
  /** What failed, in plain words; empty when ok. */
  problems: string[]
  wal: { from: string | null; segments: number; partial: boolean; gapAt: string | null } | null
}

export async function verifyBackup(
  repository: BackupRepository,
  backupId: string,
  options: { expectedSha256?: string | null; signal?: AbortSignal; concurrency?: number } = {},
): Promise<VerifyResult> {
  const problems: string[] = []
  let manifest: BackupManifest
  let sha256: string
  try {
    ;({ manifest, sha256 } = await repository.getManifest(backupId))
  } catch (error) {
    if (error instanceof BackupIntegrityError || error instanceof BackupKeyMismatchError)
      return { ok: false, manifestSha256: null, chunks: 0, bytes: 0, problems: [error.message], wal: null }
    throw error
  }
  if (options.expectedSha256 && options.expectedSha256 !== sha256)
    problems.push(`the manifest of ${backupId} is not the one recorded when the backup finished`)
  if (manifest.files.length !== manifest.fileCount)
    problems.push(`the manifest lists ${manifest.files.length} of ${manifest.fileCount} files`)

  for (const owner of manifest.owners.slice(1)) {
    try {
      await repository.getManifest(owner)
    } catch (error) {
      problems.push(
        `backup ${owner}, whose chunks this one reuses, is missing or damaged: ${(error as Error).message}`,
      )
    }
  }

  // Each distinct chunk once, a few at a time.
  const refs = new Map<string, [string, number]>()
  for (const file of manifest.files)
    for (const [owner, id, size] of file.chunks ?? [])
      refs.set(`${owner}:${id}`, [manifest.owners[owner] as string, size])
  let chunks = 0
  let bytes = 0
  const queue = [...refs.entries()]
  const worker = async () => {
    for (;;) {
      options.signal?.throwIfAborted()
      const next = queue.shift()
      if (!next) return
      const [key, [owner, size]] = next
      const id = key.slice(key.indexOf(':') + 1)
      try {
        const data = await repository.getChunk(owner, id, size)
        if (data.byteLength !== size)
          problems.push(`chunk ${id} holds ${data.byteLength} bytes, ${size} expected`)
        chunks++
        bytes += data.byteLength
      } catch (error) {
        if (error instanceof BackupIntegrityError || error instanceof BackupKeyMismatchError)
          problems.push(error.message)
        else throw error
      }
    }
  }
  await Promise.all(Array.from({ length: options.concurrency ?? 4 }, worker))

  let wal: VerifyResult['wal'] = null
  const run = await backupWalRun(repository, manifest)
  if (run) {
    wal = { from: run.from, segments: run.segments.length, partial: run.partial !== null, gapAt: run.gapAt }
    if (run.gapAt)
      problems.push(`WAL segment ${run.gapAt} is missing: points in time after it cannot be restored`)
  }
  return { ok: problems.length === 0, manifestSha256: sha256, chunks, bytes, problems, wal }
}
