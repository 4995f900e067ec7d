// Compression of backup chunks and WAL segments, one algorithm per object, recorded in the
// object's first byte so a repository can mix them. gzip everywhere; zstd through node:zlib where
// the runtime has it (Bun, Node >= 22.15; not the Node 20 build); lz4 (frame format) in pure
// JavaScript (lz4js): fast to decompress, slower to compress than the native ones.
import { promisify } from 'node:util'
import zlib from 'node:zlib'
import * as lz4 from 'lz4js'

import type { Compression } from './compression-names.ts'

export { type Compression, compressions } from './compression-names.ts'

/** The byte an object starts with, saying how its payload is compressed. */
export const compressionCode: Record<Compression, number> = { none: 0, gzip: 1, zstd: 2, lz4: 3 }
const byCode = Object.fromEntries(Object.entries(compressionCode).map(([k, v]) => [v, k])) as Record<
  number,
  Compression
>

type ZstdZlib = typeof zlib & {
  zstdCompress?: (buffer: Uint8Array, options: object, callback: (e: Error | null, r: Buffer) => void) => void
  zstdDecompress?: (
    buffer: Uint8Array,
    options: object,
    callback: (e: Error | null, r: Buffer) => void,
  ) => void
  constants: typeof zlib.constants & { ZSTD_c_compressionLevel?: number }
}
const z = zlib as ZstdZlib
const gzip = promisify(zlib.gzip)
const gunzip = promisify(zlib.gunzip)

/** Whether this runtime can use the algorithm (zstd needs node:zlib's zstd). */
export function compressionAvailable(compression: Compression): boolean {
  return (
    compression !== 'zstd' || (typeof z.zstdCompress === 'function' && typeof z.zstdDecompress === 'function')
  )
}

/** The default level of each algorithm: fast, good ratios on database pages. */
export const defaultLevel: Record<Compression, number> = { none: 0, gzip: 6, zstd: 3, lz4: 0 }

export async function compress(
  data: Uint8Array,
  compression: Compression,
  level?: number,
): Promise<Uint8Array> {
  switch (compression) {
    case 'none':
      return data
    case 'gzip':
      return gzip(data, { level: level ?? defaultLevel.gzip })
    case 'lz4':
      return lz4.compress(data)
    case 'zstd': {
      if (!compressionAvailable('zstd'))
        throw new Error('zstd is not available in this runtime (use the binary)')
      const params = { [z.constants.ZSTD_c_compressionLevel as number]: level ?? defaultLevel.zstd }
      return new Promise((resolve, reject) =>
        z.zstdCompress?.(data, { params }, (error, result) => (error ? reject(error) : resolve(result))),
      )
    }
  }
}

/** Decompresses a payload. `expectedBytes` (the plaintext's size, when the caller knows it) sizes
 * node:zlib's output buffer: with its default 16 KiB pieces, a 4 MiB chunk took about four times
 * the CPU to decompress. A wrong guess costs only speed. */
export async function decompress(
  data: Uint8Array,
  compression: Compression,
  expectedBytes?: number,
): Promise<Uint8Array> {
  // One byte more than expected: a buffer filled exactly makes zlib allocate another to find the end.
  const options = expectedBytes ? { chunkSize: Math.min(Math.max(expectedBytes + 1, 16_384), 64 << 20) } : {}
  switch (compression) {
    case 'none':
      return data
    case 'gzip':
      return gunzip(data, options)
    case 'lz4':
      return lz4.decompress(data)
    case 'zstd':
      if (!compressionAvailable('zstd'))
        throw new Error('zstd is not available in this runtime (use the binary)')
      return new Promise((resolve, reject) =>
        z.zstdDecompress?.(data, options, (error, result) => (error ? reject(error) : resolve(result))),
      )
  }
}

export function compressionOf(code: number): Compression {
  const found = byCode[code]
  if (!found) throw new Error(`unknown compression code ${code}`)
  return found
}
