// WAL in the repository: storing a segment or history file (from the streaming receiver, or from
// `pganalytics wal-push` as an archive_command), fetching one back for recovery (`wal-fetch` as
// a restore_command, or a restore copying what it needs), and the continuity of a timeline's
// segments from a starting point: what makes a point in time restorable.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Compression } from './compression.ts'
import {
  type BackupManifest,
  clusterOf,
  nextSegmentName,
  parseLsn,
  parseSegmentName,
  segmentName,
  timelineHex,
} from './manifest.ts'
import type { BackupRepository } from './repository.ts'

/** The timeline directory a WAL file belongs to: segments by their first 8 digits, history
 * files ("00000002.history") by theirs. */
export function timelineOf(fileName: string): string {
  const match = /^([0-9A-F]{8})(?:[0-9A-F]{16}(?:\.partial)?|\.history)$/.exec(fileName)
  if (!match) throw new Error(`not a WAL file name: ${fileName}`)
  return match[1] as string
}

/** Stores a WAL file of the cluster `system` (its system identifier). */
/** The system identifier of the cluster whose data directory is `dir` (PostgreSQL runs
 * archive_command and restore_command in it): pg_control begins with it, a 64-bit integer in the
 * server's byte order (little-endian on every platform the binary ships for). */
export function clusterOfDataDirectory(dir: string): string {
  return readFileSync(join(dir, 'global', 'pg_control'))
    .readBigUInt64LE(0)
    .toString()
}

export async function storeWalFile(
  repository: BackupRepository,
  system: string,
  fileName: string,
  content: Uint8Array,
  compression: Compression,
): Promise<number> {
  return repository.putWal(system, timelineOf(fileName), fileName, content, compression)
}

/** A WAL file for recovery. For a segment the repository only has as `.partial` (the one the
 * receiver was writing when the server was lost), that partial: its tail is zeros, which replay
 * reads as the end of WAL. Null when neither exists. */
export async function fetchWalFile(
  repository: BackupRepository,
  system: string,
  fileName: string,
): Promise<Uint8Array | null> {
  const timeline = timelineOf(fileName)
  const exact = await repository.getWal(system, timeline, fileName)
  if (exact || fileName.endsWith('.history') || fileName.endsWith('.partial')) return exact
  return repository.getWal(system, timeline, `${fileName}.partial`)
}

export type WalRun = {
  /** Complete segments from the start, without a gap. */
  segments: string[]
  /** The partial segment right after them, when there is one. */
  partial: string | null
  /** The first segment missing after the run, when later ones exist (a gap). */
  gapAt: string | null
}

/** The contiguous run of stored segments on `timeline` from `firstSegment` on. */
export async function walRun(
  repository: BackupRepository,
  system: string,
  timeline: number,
  firstSegment: string,
  segmentSize: number,
): Promise<WalRun> {
  const stored = new Set(await repository.listWal(system, timelineHex(timeline)))
  const segments: string[] = []
  let name = firstSegment
  while (stored.has(name)) {
    segments.push(name)
    name = nextSegmentName(name, segmentSize)
  }
  const partial = stored.has(`${name}.partial`) ? `${name}.partial` : null
  const start = parseSegmentName(name, segmentSize)?.segno ?? 0n
  const later = [...stored].some((s) => {
    const parsed = parseSegmentName(s, segmentSize)
    // A later segment, complete or partial, means this one is missing, not yet to come.
    return parsed !== null && parsed.segno > start
  })
  return { segments, partial, gapAt: later ? name : null }
}

/** A physical backup's WAL in the repository from the segment it started in (`from`); null for a
 * backup without a start position (logical). */
export async function backupWalRun(
  repository: BackupRepository,
  manifest: BackupManifest,
): Promise<(WalRun & { from: string }) | null> {
  if (!manifest.startLsn) return null
  const from = segmentName(manifest.timeline, parseLsn(manifest.startLsn), manifest.walSegmentSize)
  const run = await walRun(repository, clusterOf(manifest), manifest.timeline, from, manifest.walSegmentSize)
  return { ...run, from }
}
