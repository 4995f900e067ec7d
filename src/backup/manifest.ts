// What a backup manifest records (sealed in the repository, see repository.ts), and WAL naming:
// the arithmetic between LSNs and segment file names that PITR and continuity checks need.

export type BackupType = 'full' | 'incremental' | 'differential' | 'logical'

/** A chunk reference: the index of its owner in `owners`, its id, its plaintext size. */
export type ChunkRef = [owner: number, id: string, size: number]

export type ManifestFile = {
  path: string
  type: 'file' | 'directory' | 'symlink'
  mode: number
  /** Seconds since the epoch. */
  mtime: number
  size: number
  target?: string
  chunks?: ChunkRef[]
}

export type BackupManifest = {
  format: 1
  backupId: string
  instance: { id: string; name: string; systemIdentifier: string | null }
  type: BackupType
  parentBackupId: string | null
  chainId: string
  /** Backups whose chunks this one references; index 0 is the backup itself. */
  owners: string[]
  compression: string
  chunkSize: number
  pgVersion: number
  walSegmentSize: number
  timeline: number
  startLsn: string | null
  endLsn: string | null
  /** When the backup became consistent (end of the copy). */
  consistentAt: string
  startedAt: string
  /** Logical backups: the database, and the tool's format. */
  database?: string
  /** Physical backups: how the files were read (local-copy.ts or physical.ts), and why not locally. */
  copy?: { method: 'stream' | 'local'; note?: string }
  files: ManifestFile[]
  /** The count of files, so a manifest cut short is detected even if it parses. */
  fileCount: number
  stats: { sourceBytes: number; storedBytes: number; chunks: number; newChunks: number }
}

/** "16/B374D848" → bigint. */
export function parseLsn(lsn: string): bigint {
  const match = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn)
  if (!match) throw new Error(`not an LSN: ${lsn}`)
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`)
}

export function formatLsn(value: bigint): string {
  return `${(value >> 32n).toString(16).toUpperCase()}/${(value & 0xffffffffn).toString(16).toUpperCase()}`
}

export const timelineHex = (timeline: number) => timeline.toString(16).toUpperCase().padStart(8, '0')

/** The WAL segment file holding `lsn` on `timeline`. */
export function segmentName(timeline: number, lsn: bigint, segmentSize: number): string {
  const segno = lsn / BigInt(segmentSize)
  const perLog = 0x100000000n / BigInt(segmentSize)
  const hex = (n: bigint) => n.toString(16).toUpperCase().padStart(8, '0')
  return `${timelineHex(timeline)}${hex(segno / perLog)}${hex(segno % perLog)}`
}

/** The segment number and timeline of a segment file name; null for other files. */
export function parseSegmentName(
  name: string,
  segmentSize: number,
): { timeline: number; segno: bigint } | null {
  const match = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})(\.partial)?$/.exec(name)
  if (!match) return null
  const perLog = 0x100000000n / BigInt(segmentSize)
  return {
    timeline: Number.parseInt(match[1] as string, 16),
    segno: BigInt(`0x${match[2]}`) * perLog + BigInt(`0x${match[3]}`),
  }
}

/** The name of the segment after `name` (same timeline). */
export function nextSegmentName(name: string, segmentSize: number): string {
  const parsed = parseSegmentName(name, segmentSize)
  if (!parsed) throw new Error(`not a WAL segment name: ${name}`)
  return segmentName(parsed.timeline, (parsed.segno + 1n) * BigInt(segmentSize), segmentSize)
}

/** The cluster (system identifier) of a physical backup: its WAL's area in the repository. */
export function clusterOf(manifest: BackupManifest): string {
  const system = manifest.instance.systemIdentifier
  if (!system) throw new Error(`backup ${manifest.backupId} does not name its cluster's system identifier`)
  return system
}
