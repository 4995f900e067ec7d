// Point-in-time recovery into a directory: the backup's files, every WAL file from the backup's
// start on that the repository holds without a gap (the last partial segment included), and the
// recovery settings, so `pg_ctl start` on the directory replays to the target and opens, with no
// access to the repository. The restored server never archives into anyone's archive.
import { execFile } from 'node:child_process'
import { access, appendFile, mkdir, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { BackupManifest } from './manifest.ts'
import { clusterOf, parseLsn, timelineHex } from './manifest.ts'
import { findPgTool } from './pg-tools.ts'
import type { BackupRepository } from './repository.ts'
import { restoreFiles } from './restore-files.ts'
import { backupWalRun, fetchWalFile } from './wal-archive.ts'

const run = promisify(execFile)

export type RecoveryTarget =
  | { kind: 'latest' }
  | { kind: 'time'; time: string }
  | { kind: 'lsn'; lsn: string }
  | { kind: 'xid'; xid: string }
  | { kind: 'name'; name: string }

/** The target cannot be reached with this backup and the WAL there is. */
export class RestoreTargetUnreachableError extends Error {
  override name = 'RestoreTargetUnreachableError'
}
/** The target directory already holds something. */
export class RestoreDirectoryNotEmptyError extends Error {
  override name = 'RestoreDirectoryNotEmptyError'
}

export const restoredWalDir = 'pganalytics_wal'

const quoted = (value: string) => `'${value.replaceAll("'", "''")}'`

/** The postgresql.auto.conf lines for a target. */
export function recoverySettings(target: RecoveryTarget, action: 'promote' | 'pause' | 'shutdown'): string[] {
  const lines = [
    `restore_command = ${quoted(`cp "${restoredWalDir}/%f" "%p"`)}`,
    // A restored copy must never push WAL into the archive of the server it came from.
    "archive_mode = 'off'",
    "recovery_target_timeline = 'latest'",
  ]
  switch (target.kind) {
    case 'time':
      // PostgreSQL reads "2026-12-01 14:06:10.562+00", not ISO 8601's T and Z.
      lines.push(
        `recovery_target_time = ${quoted(new Date(target.time).toISOString().replace('T', ' ').replace('Z', '+00'))}`,
      )
      break
    case 'lsn':
      lines.push(`recovery_target_lsn = ${quoted(target.lsn)}`)
      break
    case 'xid':
      lines.push(`recovery_target_xid = ${quoted(target.xid)}`)
      break
    case 'name':
      lines.push(`recovery_target_name = ${quoted(target.name)}`)
      break
  }
  if (target.kind !== 'latest') lines.push(`recovery_target_action = ${quoted(action)}`)
  return lines
}

/** Checks a target against what the backup and the WAL allow, before writing anything. */
export function checkTarget(
  manifest: BackupManifest,
  target: RecoveryTarget,
  window: { walEndLsn: bigint | null; latestTime: string | null },
) {
  if (target.kind === 'time') {
    const time = Date.parse(target.time)
    if (Number.isNaN(time)) throw new RestoreTargetUnreachableError(`${target.time} is not a time`)
    if (time < Date.parse(manifest.consistentAt))
      throw new RestoreTargetUnreachableError(
        `${target.time} is before this backup became consistent (${manifest.consistentAt}): choose an earlier backup`,
      )
    if (window.latestTime && time > Date.parse(window.latestTime))
      throw new RestoreTargetUnreachableError(
        `${target.time} is after the latest restorable time (${window.latestTime})`,
      )
  }
  if (target.kind === 'lsn') {
    const lsn = parseLsn(target.lsn)
    if (manifest.endLsn && lsn < parseLsn(manifest.endLsn))
      throw new RestoreTargetUnreachableError(
        `${target.lsn} is before this backup's end (${manifest.endLsn})`,
      )
    if (window.walEndLsn !== null && lsn > window.walEndLsn)
      throw new RestoreTargetUnreachableError(`${target.lsn} is beyond the WAL in the repository`)
  }
}

/** Where the repository's WAL for this backup ends (complete segments only), or null. */
export async function walEnd(repository: BackupRepository, manifest: BackupManifest): Promise<bigint | null> {
  const run = await backupWalRun(repository, manifest)
  if (!run || run.segments.length === 0 || !manifest.startLsn) return null
  return (
    (parseLsn(manifest.startLsn) / BigInt(manifest.walSegmentSize) + BigInt(run.segments.length)) *
    BigInt(manifest.walSegmentSize)
  )
}

export type DirectoryRestore = { bytes: number; walFiles: number; walBytes: number }

/** Writes a startable PGDATA for `target` into `directory` (absent or empty). */
export async function restoreToDirectory(options: {
  repository: BackupRepository
  manifest: BackupManifest
  directory: string
  target: RecoveryTarget
  action?: 'promote' | 'pause' | 'shutdown'
  signal?: AbortSignal
  binDir?: string | undefined
}): Promise<DirectoryRestore> {
  const { repository, manifest, directory } = options
  if (manifest.type === 'logical')
    throw new RestoreTargetUnreachableError('a logical backup restores into a database, not a directory')
  await mkdir(directory, { recursive: true, mode: 0o700 })
  if ((await readdir(directory)).length > 0)
    throw new RestoreDirectoryNotEmptyError(`${directory} is not empty`)
  const bytes = await restoreFiles(
    repository,
    manifest,
    directory,
    options.signal ? { signal: options.signal } : {},
  )

  // WAL from the backup's start, without a gap; the partial after it, under its plain name.
  const walDir = join(directory, restoredWalDir)
  await mkdir(walDir, { mode: 0o700 })
  let walFiles = 0
  let walBytes = 0
  const copy = async (stored: string, as: string) => {
    const content = await fetchWalFile(repository, clusterOf(manifest), stored)
    if (!content) return
    await writeFile(join(walDir, as), content, { mode: 0o600 })
    walFiles++
    walBytes += content.byteLength
  }
  const run = await backupWalRun(repository, manifest)
  if (run) {
    for (const name of run.segments) {
      options.signal?.throwIfAborted()
      await copy(name, name)
    }
    if (run.partial) await copy(run.partial, run.partial.replace(/\.partial$/, ''))
    for (const name of await repository.listWal(clusterOf(manifest), timelineHex(manifest.timeline)))
      if (name.endsWith('.history')) await copy(name, name)
  }
  const settings = [
    ...(await primarySettings(directory, manifest.pgVersion, options.binDir)),
    ...recoverySettings(options.target, options.action ?? 'promote'),
  ]
  await writeMissingConfigFiles(directory)
  await appendFile(
    join(directory, 'postgresql.auto.conf'),
    `\n# Added by pganalytics: point-in-time recovery of backup ${manifest.backupId}\n${settings.join('\n')}\n`,
  )
  await writeFile(join(directory, 'recovery.signal'), '', { mode: 0o600 })
  return { bytes, walFiles, walBytes }
}

/** Settings a standby or a recovering server must have at least as high as the primary had
 * (recovery stops otherwise): the primary's values, read from the restored pg_control. */
async function primarySettings(directory: string, pgVersion: number, binDir?: string): Promise<string[]> {
  const tool = await findPgTool('pg_controldata', pgVersion, { exact: true, binDir })
  const { stdout } = await run(tool, [directory], { env: { LANG: 'C', LC_ALL: 'C' } })
  const names: Record<string, string> = {
    max_connections: 'max_connections',
    max_worker_processes: 'max_worker_processes',
    max_wal_senders: 'max_wal_senders',
    max_prepared_xacts: 'max_prepared_transactions',
    max_locks_per_xact: 'max_locks_per_transaction',
  }
  const lines: string[] = []
  for (const [control, setting] of Object.entries(names)) {
    const value = new RegExp(`^${control} setting:\\s+(\\d+)$`, 'm').exec(stdout)?.[1]
    if (value) lines.push(`${setting} = ${value}`)
  }
  return lines
}

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  )

/** Distributions that keep the configuration outside the data directory (Debian, Ubuntu) back
 * up no postgresql.conf or pg_hba.conf: give the restored directory conservative ones. */
async function writeMissingConfigFiles(directory: string) {
  const files: Record<string, string> = {
    'postgresql.conf':
      '# Written by pganalytics restore: the backed-up server kept its configuration elsewhere.\n',
    'pg_hba.conf':
      '# Written by pganalytics restore: local connections only, by peer or password.\nlocal all all peer\nhost all all 127.0.0.1/32 scram-sha-256\nhost all all ::1/128 scram-sha-256\n',
    'pg_ident.conf': '',
  }
  for (const [name, content] of Object.entries(files))
    if (!(await exists(join(directory, name))))
      await writeFile(join(directory, name), content, { mode: 0o600 })
}
