// The key-encryption key (KEK): wraps and unwraps data keys, never touches field data. A local
// KEK comes from PGA_MASTER_KEY / PGA_MASTER_KEY_FILE (32 random bytes, base64). The interface
// is the plug-in point for an external KMS (Vault transit, AWS KMS): wrap/unwrap are the only
// operations, and `id` names the key so a data key records which KEK wrapped it.
import { DecryptionError, importAesKey, open, seal, sha256Hex } from '../platform/crypto/aes-gcm.ts'

export interface KeyEncryptionKey {
  /** Stable, non-secret identifier (a fingerprint for local keys, the key name for a KMS). */
  readonly id: string
  wrap(dataKey: Uint8Array, context: Uint8Array): Promise<Uint8Array>
  unwrap(wrapped: Uint8Array, context: Uint8Array): Promise<Uint8Array>
}

/** The master key cannot be used: missing, malformed, or not the one that wrapped the data keys. */
export class MasterKeyError extends Error {
  override name = 'MasterKeyError'
}

/** Parses base64 text (surrounding whitespace allowed, as in a key file) into 32 bytes. */
export function parseMasterKey(text: string, source: string): Uint8Array {
  const trimmed = text.trim()
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed)) throw new MasterKeyError(`${source} is not base64`)
  const bytes = new Uint8Array(Buffer.from(trimmed, 'base64'))
  if (bytes.byteLength !== 32) {
    throw new MasterKeyError(
      `${source} must decode to 32 bytes (got ${bytes.byteLength}); create one with: openssl rand -base64 32`,
    )
  }
  return bytes
}

/** A KEK held in memory, wrapping with AES-256-GCM. Its id is a fingerprint, not the key. */
export async function createLocalKek(raw: Uint8Array): Promise<KeyEncryptionKey> {
  const key = await importAesKey(raw)
  const id = `local:${(await sha256Hex(new Uint8Array([...new TextEncoder().encode('pga-kek-fingerprint:'), ...raw]))).slice(0, 16)}`
  return {
    id,
    wrap: (dataKey, context) => seal(key, dataKey, context),
    async unwrap(wrapped, context) {
      try {
        return await open(key, wrapped, context)
      } catch (error) {
        if (error instanceof DecryptionError)
          throw new MasterKeyError(`master key ${id} could not unwrap the data key: it was altered`)
        throw error
      }
    },
  }
}
