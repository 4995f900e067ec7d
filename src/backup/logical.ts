// A logical backup of one database: pg_dump's custom format (compression off: the chunk pipeline
// compresses) read from its stdout in fixed-size chunks, stored as one file of the manifest. It
// restores with pg_restore into a database of another name, on any server of the same or a newer
// major version.
import type { ChunkWriter } from './chunk-writer.ts'
import { type LibpqConnection, runTool } from './libpq.ts'
import type { ChunkRef, ManifestFile } from './manifest.ts'
import { ByteReader } from './tar-reader.ts'

export const dumpFileName = (database: string) => `${database}.pgdump`

export async function copyLogical(options: {
  pgDump: string
  connection: LibpqConnection
  database: string
  writer: ChunkWriter
  chunkSize: number
  signal?: AbortSignal | undefined
  onProgress?: (bytesRead: number) => void
}): Promise<ManifestFile> {
  const tool = runTool(
    options.pgDump,
    ['-d', options.connection.conninfo, '-F', 'c', '-Z', '0', '-w'],
    options.connection.env,
    options.signal,
  )
  const reader = new ByteReader(tool.child.stdout)
  const chunks: ChunkRef[] = []
  const file: ManifestFile = {
    path: dumpFileName(options.database),
    type: 'file',
    mode: 0o600,
    mtime: Math.floor(Date.now() / 1000),
    size: 0,
    chunks,
  }
  try {
    for (;;) {
      const piece = await reader.read(options.chunkSize)
      const size = piece.byteLength // read before add: the writer may move the buffer away
      if (size === 0) break
      const index = chunks.length
      chunks.length++
      await options.writer.add(piece, (ref) => {
        chunks[index] = ref
      })
      file.size += size
      options.onProgress?.(reader.position)
    }
    await tool.finished
    await options.writer.flush()
  } catch (error) {
    tool.child.kill('SIGTERM')
    await tool.finished.catch(() => {})
    throw options.signal?.aborted ? options.signal.reason : error
  }
  return file
}
