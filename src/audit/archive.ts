// Audit archives: JSON Lines, gzip-compressed when the file name ends in .gz (bundles always are).
// A header line (format, and for a range its first and last entry and the hash that precedes
// it), then the signing keys, the checkpoints (from the one just before the range) and the
// entries in id order, each as stored. The same format serves `pganalytics audit export` (the
// live trail) and the bundles the archiver moves to object storage. An archive is verified with
// the code that verifies the store, against public keys the verifier already trusts (never only
// the archive's own).
import { once } from 'node:events'
import { createReadStream, createWriteStream } from 'node:fs'
import { createInterface } from 'node:readline'
import { Readable, type Writable } from 'node:stream'
import { createGunzip, createGzip, gzipSync } from 'node:zlib'
import type { Db } from '../platform/db/database.ts'
import { genesisHash } from './chain.ts'
import { type StoredCheckpoint, type StoredEntry, storeSource, type TrailSource } from './verify.ts'

export const archiveFormat = 'pganalytics-audit-archive/1'

export type ArchiveHeader = {
  type: 'header'
  format: string
  exportedAt: string
  /** First entry held (1 for a whole trail) and, for a bundle, the last. */
  firstId: number
  lastId?: number
  /** content_hash of entry firstId - 1 (64 zeros when firstId is 1). */
  previousHash: string
}

type Line =
  | ArchiveHeader
  | { type: 'key'; keyId: string; publicKeySpki: string }
  | ({ type: 'checkpoint' } & StoredCheckpoint)
  | ({ type: 'entry' } & StoredEntry)

/** The lines of entries firstId..lastId (or to the end) of a trail source. */
async function* rangeLines(source: TrailSource, lastId?: number): AsyncGenerator<Line> {
  const firstId = source.firstId
  const previousHash = await source.contentHashOf(firstId - 1)
  if (previousHash === null) throw new Error(`the entry before ${firstId} is unknown`)
  yield {
    type: 'header',
    format: archiveFormat,
    exportedAt: new Date().toISOString(),
    firstId,
    ...(lastId === undefined ? {} : { lastId }),
    previousHash,
  }
  for (const [keyId, publicKeySpki] of source.keys) yield { type: 'key', keyId, publicKeySpki }
  for (const checkpoint of source.checkpoints)
    if (checkpoint.tree_size >= firstId - 1 && (lastId === undefined || checkpoint.tree_size <= lastId))
      yield { type: 'checkpoint', ...checkpoint }
  for await (const entry of source.entries(firstId - 1)) {
    if (lastId !== undefined && entry.id > lastId) return
    yield { type: 'entry', ...entry }
  }
}

/** Writes the store's live trail to `path`. Returns what it wrote. */
export async function exportArchive(db: Db, path: string): Promise<{ entries: number; checkpoints: number }> {
  const file = createWriteStream(path, { mode: 0o600 })
  const out: Writable = path.endsWith('.gz') ? createGzip() : file
  if (out !== file) (out as ReturnType<typeof createGzip>).pipe(file)
  let entries = 0
  let checkpoints = 0
  for await (const line of rangeLines(await storeSource(db))) {
    if (line.type === 'entry') entries++
    if (line.type === 'checkpoint') checkpoints++
    if (!out.write(`${JSON.stringify(line)}\n`)) await once(out, 'drain')
  }
  out.end()
  await once(file, 'close')
  return { entries, checkpoints }
}

/** A gzip bundle of entries firstId..lastId of the store (firstId must be the first live entry). */
export async function bundleRange(db: Db, lastId: number): Promise<{ bytes: Buffer; entries: number }> {
  const chunks: string[] = []
  let entries = 0
  for await (const line of rangeLines(await storeSource(db), lastId)) {
    if (line.type === 'entry') entries++
    chunks.push(`${JSON.stringify(line)}\n`)
  }
  return { bytes: gzipSync(chunks.join(''), { level: 6 }), entries }
}

const isGzip = (bytes: Uint8Array) => bytes[0] === 0x1f && bytes[1] === 0x8b

async function* lines(input: string | Uint8Array): AsyncGenerator<Line> {
  const raw: Readable = typeof input === 'string' ? createReadStream(input) : Readable.from([input])
  const gzipped = typeof input === 'string' ? input.endsWith('.gz') : isGzip(input)
  const text = gzipped ? raw.pipe(createGunzip()) : raw
  for await (const line of createInterface({ input: text, crlfDelay: Number.POSITIVE_INFINITY })) {
    if (line.trim()) yield JSON.parse(line) as Line
  }
}

/** PEM or base64 SPKI → base64 SPKI. */
export function spkiOf(publicKey: string): string {
  return publicKey.replace(/-----(BEGIN|END) PUBLIC KEY-----/g, '').replace(/\s+/g, '')
}

/** An archive (a file path, or a bundle's bytes) as a trail source. Only `trustedKeys` (base64
 * SPKI) verify signatures. */
export async function archiveSource(
  input: string | Uint8Array,
  trustedKeys: string[],
): Promise<TrailSource & { header: ArchiveHeader }> {
  const checkpoints: StoredCheckpoint[] = []
  const archiveKeys = new Map<string, string>()
  let header: Line | undefined
  for await (const line of lines(input)) {
    header ??= line
    if (line.type === 'key') archiveKeys.set(line.keyId, line.publicKeySpki)
    else if (line.type === 'checkpoint') {
      const { type: _, ...checkpoint } = line
      checkpoints.push(checkpoint)
    } else if (line.type === 'entry') break
  }
  if (header?.type !== 'header' || header.format !== archiveFormat)
    throw new Error(`${typeof input === 'string' ? input : 'the bundle'} is not a ${archiveFormat} archive`)
  const trusted = new Set(trustedKeys.map(spkiOf))
  // Key ids are named by the archive; a key counts only when its public key is one we trust.
  const keys = new Map([...archiveKeys].filter(([, spki]) => trusted.has(spki)))
  checkpoints.sort((a, b) => a.tree_size - b.tree_size)
  // Archives exported before ranges existed hold the whole trail from entry 1.
  const head: ArchiveHeader = {
    ...header,
    firstId: header.firstId ?? 1,
    previousHash: header.previousHash ?? genesisHash,
  }
  return {
    header: head,
    keys,
    checkpoints,
    firstId: head.firstId,
    async *entries(afterId) {
      for await (const line of lines(input)) {
        if (line.type !== 'entry' || line.id <= afterId) continue
        const { type: _, ...entry } = line
        yield entry
      }
    },
    async contentHashOf(id) {
      if (id === head.firstId - 1) return head.previousHash
      for await (const line of lines(input))
        if (line.type === 'entry' && line.id === id) return line.content_hash
      return null
    },
  }
}
