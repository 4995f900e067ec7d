// A physical backup over the network: pg_basebackup's tar stream (with the WAL it needs, so the
// backup is consistent on its own, and its backup manifest) read file by file; each file cut
// into fixed-size chunks at fixed offsets, which suits PostgreSQL's files (pages change in
// place, so an unchanged region gives the same chunk again), and each chunk referenced or stored
// through the ChunkWriter (whose threads identify and seal chunks while this reads on). Nothing is held in memory beyond a few chunks.

import type { ChunkWriter } from './chunk-writer.ts'
import type { LibpqConnection } from './libpq.ts'
import { runTool } from './libpq.ts'
import type { ChunkRef, ManifestFile } from './manifest.ts'
import { ByteReader, tarEntries } from './tar-reader.ts'

export type PhysicalCopy = {
  files: ManifestFile[]
  timeline: number
  startLsn: string
  endLsn: string
  /** The server's time at the end of the copy (from the WAL end record of backup_label/manifest). */
  consistentAt: string
}

/** What pg_basebackup put in backup_label: where replay must start. */
function parseBackupLabel(text: string): { startLsn: string; timeline: number } {
  const start = /START WAL LOCATION: ([0-9A-F]+\/[0-9A-F]+) \(file ([0-9A-F]{8})/.exec(text)
  if (!start) throw new Error('pg_basebackup wrote no backup_label')
  return { startLsn: start[1] as string, timeline: Number.parseInt(start[2] as string, 16) }
}

/** Where the backup's WAL ends, from the backup manifest's WAL-Ranges. */
function parseManifestEnd(text: string): string {
  const ranges = (JSON.parse(text) as { 'WAL-Ranges'?: { 'End-LSN': string }[] })['WAL-Ranges'] ?? []
  const last = ranges.at(-1)
  if (!last) throw new Error('the backup manifest names no WAL range')
  return last['End-LSN']
}

const smallFiles = new Set(['backup_label', 'backup_manifest', 'tablespace_map'])

/** Runs pg_basebackup and stores its output as chunks; resolves with what the manifest needs. */
export async function copyPhysical(options: {
  pgBasebackup: string
  connection: LibpqConnection
  label: string
  writer: ChunkWriter
  chunkSize: number
  signal?: AbortSignal | undefined
  onProgress?: (bytesRead: number) => void
}): Promise<PhysicalCopy> {
  const tool = runTool(
    options.pgBasebackup,
    [
      '-d',
      options.connection.conninfo,
      '-D',
      '-',
      '-F',
      't',
      '-X',
      'fetch',
      '-c',
      'fast',
      '-w',
      '-l',
      options.label,
    ],
    options.connection.env,
    options.signal,
  )
  const reader = new ByteReader(tool.child.stdout)
  const files: ManifestFile[] = []
  const captured = new Map<string, string>()
  try {
    for await (const entry of tarEntries(reader)) {
      const file: ManifestFile = {
        path: entry.path,
        type: entry.type === 'other' ? 'file' : entry.type,
        mode: entry.mode,
        mtime: entry.mtime,
        size: entry.size,
      }
      if (entry.type === 'symlink') file.target = entry.linkTarget
      if (entry.type === 'file' || entry.type === 'other') {
        const chunks: ChunkRef[] = []
        file.chunks = chunks
        let left = entry.size
        while (left > 0) {
          const piece = await reader.read(Math.min(options.chunkSize, left))
          const size = piece.byteLength // read before add: the writer may move the buffer away
          if (size === 0) throw new Error(`the stream ended inside ${entry.path}`)
          if (smallFiles.has(entry.path))
            captured.set(entry.path, (captured.get(entry.path) ?? '') + new TextDecoder().decode(piece))
          const index = chunks.length
          chunks.length++
          await options.writer.add(piece, (ref) => {
            chunks[index] = ref
          })
          left -= size
          options.onProgress?.(reader.position)
        }
      }
      files.push(file)
    }
    await reader.drain()
    await tool.finished
    await options.writer.flush()
  } catch (error) {
    tool.child.kill('SIGTERM')
    await tool.finished.catch(() => {})
    throw options.signal?.aborted ? options.signal.reason : error
  }
  const label = parseBackupLabel(captured.get('backup_label') ?? '')
  return {
    files,
    timeline: label.timeline,
    startLsn: label.startLsn,
    endLsn: parseManifestEnd(captured.get('backup_manifest') ?? '{}'),
    consistentAt: new Date().toISOString(),
  }
}
