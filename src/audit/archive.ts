// Exported audit archives: JSON Lines (gzip when the name ends in .gz). A header line, then the
// signing keys, the checkpoints and the entries in id order, each as stored. An archive is
// verified offline against public keys the verifier already trusts (never only the archive's
// own), with the same code that verifies the store.

import { once } from 'node:events'
import { createReadStream, createWriteStream } from 'node:fs'
import { createInterface } from 'node:readline'
import type { Readable, Writable } from 'node:stream'
import { createGunzip, createGzip } from 'node:zlib'
import type { Db } from '../platform/db/database.ts'
import { type StoredCheckpoint, type StoredEntry, storeSource, type TrailSource } from './verify.ts'

export const archiveFormat = 'pganalytics-audit-archive/1'

type Line =
  | { type: 'header'; format: string; exportedAt: string }
  | { type: 'key'; keyId: string; publicKeySpki: string }
  | ({ type: 'checkpoint' } & StoredCheckpoint)
  | ({ type: 'entry' } & StoredEntry)

const gzipped = (path: string) => path.endsWith('.gz')

/** Writes the whole trail of the store to `path`. Returns the number of entries. */
export async function exportArchive(db: Db, path: string): Promise<{ entries: number; checkpoints: number }> {
  const source = await storeSource(db)
  const file = createWriteStream(path, { mode: 0o600 })
  const out: Writable = gzipped(path) ? createGzip() : file
  if (out !== file) (out as ReturnType<typeof createGzip>).pipe(file)
  const write = async (line: Line) => {
    if (!out.write(`${JSON.stringify(line)}\n`)) await once(out, 'drain')
  }
  await write({ type: 'header', format: archiveFormat, exportedAt: new Date().toISOString() })
  for (const [keyId, publicKeySpki] of source.keys) await write({ type: 'key', keyId, publicKeySpki })
  for (const checkpoint of source.checkpoints) await write({ type: 'checkpoint', ...checkpoint })
  let entries = 0
  for await (const entry of source.entries(0)) {
    await write({ type: 'entry', ...entry })
    entries++
  }
  out.end()
  await once(file, 'close')
  return { entries, checkpoints: source.checkpoints.length }
}

async function* lines(path: string): AsyncGenerator<Line> {
  const raw: Readable = createReadStream(path)
  const input = gzipped(path) ? raw.pipe(createGunzip()) : raw
  for await (const text of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) {
    if (text.trim()) yield JSON.parse(text) as Line
  }
}

/** PEM or base64 SPKI → base64 SPKI. */
export function spkiOf(publicKey: string): string {
  return publicKey.replace(/-----(BEGIN|END) PUBLIC KEY-----/g, '').replace(/\s+/g, '')
}

/** An archive as a trail source. Only `trustedKeys` (base64 SPKI) verify signatures. */
export async function archiveSource(path: string, trustedKeys: string[]): Promise<TrailSource> {
  const checkpoints: StoredCheckpoint[] = []
  const archiveKeys = new Map<string, string>()
  let header: Line | undefined
  for await (const line of lines(path)) {
    header ??= line
    if (line.type === 'key') archiveKeys.set(line.keyId, line.publicKeySpki)
    else if (line.type === 'checkpoint') {
      const { type: _, ...checkpoint } = line
      checkpoints.push(checkpoint)
    } else if (line.type === 'entry') break
  }
  if (header?.type !== 'header' || header.format !== archiveFormat)
    throw new Error(`${path} is not a ${archiveFormat} archive`)
  const trusted = new Set(trustedKeys.map(spkiOf))
  // Key ids are named by the archive; a key counts only when its public key is one we trust.
  const keys = new Map([...archiveKeys].filter(([, spki]) => trusted.has(spki)))
  checkpoints.sort((a, b) => a.tree_size - b.tree_size)
  return {
    keys,
    checkpoints,
    async *entries(afterId) {
      for await (const line of lines(path)) {
        if (line.type !== 'entry' || line.id <= afterId) continue
        const { type: _, ...entry } = line
        yield entry
      }
    },
    async contentHashOf(id) {
      for await (const line of lines(path))
        if (line.type === 'entry' && line.id === id) return line.content_hash
      return null
    },
  }
}
