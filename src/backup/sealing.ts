// Encryption of everything a backup repository holds, so that the repository and the master key
// are enough to restore (the store may be lost too) and nothing in it can be moved unnoticed:
// - the repository secret (random, wrapped by the master key in repository.json) keys the chunk
//   ids (HMAC-SHA-256 of the plaintext: equal chunks dedupe without the storage learning which
//   ones are equal) and the WAL key;
// - each backup has its own data key, wrapped by the master key in its manifest (and into
//   key.json beside it when the master key is rotated); its chunks are sealed with it
//   (AES-256-GCM) and bound to their owner backup and id (associated data), so a chunk swapped
//   in from another backup, or another chunk of the same one, fails to open;
// - the manifest is sealed with the backup key and bound to the backup id; it fixes the order
//   and the number of chunks of every file, so reordering and truncation are detected;
// - WAL segments are sealed with the WAL key, bound to their file name.
// Object bodies: one byte for the compression, then nonce | ciphertext | tag.
import { createHmac, hkdfSync } from 'node:crypto'
import type { KeyEncryptionKey } from '../keys/kek.ts'
import { DecryptionError, importAesKey, open, randomBytes, seal } from '../platform/crypto/aes-gcm.ts'
import { type Compression, compress, compressionCode, compressionOf, decompress } from './compression.ts'

const text = (s: string) => new TextEncoder().encode(s)

/** A wrapped key as stored: which master key wrapped it, and the wrapped bytes (base64url). */
export type WrappedKey = { kekId: string; wrapped: string }

export async function wrapKey(kek: KeyEncryptionKey, key: Uint8Array, context: string): Promise<WrappedKey> {
  return { kekId: kek.id, wrapped: Buffer.from(await kek.wrap(key, text(context))).toString('base64url') }
}

/** The key, unwrapped by whichever of the given master keys wrapped it; null when none did. */
export async function unwrapKey(
  keks: KeyEncryptionKey[],
  stored: WrappedKey,
  context: string,
): Promise<Uint8Array | null> {
  const kek = keks.find((k) => k.id === stored.kekId)
  if (!kek) return null
  return kek.unwrap(new Uint8Array(Buffer.from(stored.wrapped, 'base64url')), text(context))
}

export const newKey = () => randomBytes(32)

/** Keys derived from the repository secret. */
export class RepositoryKeys {
  private constructor(
    /** Keys the chunk ids; the chunk threads (chunk-pool.ts) compute them with it too. */
    readonly chunkIdKey: Buffer,
    readonly walKey: CryptoKey,
  ) {}

  static async from(secret: Uint8Array): Promise<RepositoryKeys> {
    const derive = (info: string) => Buffer.from(hkdfSync('sha256', secret, new Uint8Array(), info, 32))
    return new RepositoryKeys(derive('pga-backup chunk ids'), await importAesKey(derive('pga-backup wal')))
  }

  /** The content id of a chunk: keyed, so equal ids reveal nothing to the storage's owner. */
  chunkId(plaintext: Uint8Array): string {
    return createHmac('sha256', this.chunkIdKey).update(plaintext).digest('hex')
  }
}

/** Compresses then seals a payload bound to `aad`. */
export async function sealObject(
  key: CryptoKey,
  plaintext: Uint8Array,
  aad: string,
  compression: Compression,
  level?: number,
): Promise<Uint8Array> {
  const sealed = await seal(key, await compress(plaintext, compression, level), text(aad))
  const out = new Uint8Array(1 + sealed.byteLength)
  out[0] = compressionCode[compression]
  out.set(sealed, 1)
  return out
}

/** Opens and decompresses an object; DecryptionError when it was altered or moved.
 * `expectedBytes`: the plaintext's size when known (see decompress). */
export async function openObject(
  key: CryptoKey,
  body: Uint8Array,
  aad: string,
  expectedBytes?: number,
): Promise<Uint8Array> {
  if (body.byteLength < 1) throw new DecryptionError('empty object')
  const compression = compressionOf(body[0] as number)
  return decompress(await open(key, body.subarray(1), text(aad)), compression, expectedBytes)
}

export const chunkAad = (ownerBackupId: string, chunkId: string) => `pga-chunk:${ownerBackupId}:${chunkId}`
export const manifestAad = (backupId: string) => `pga-manifest:${backupId}`
/** Binds a WAL file to its cluster and name: a segment moved to another cluster's area or renamed
 * does not open. */
export const walAad = (system: string, fileName: string) => `pga-wal:${system}:${fileName}`
export const backupKeyContext = (backupId: string) => `pga-backup-key:${backupId}`
export const repositoryKeyContext = (repositoryId: string) => `pga-backup-repository:${repositoryId}`
