// AES-256-GCM through Web Crypto (portable: Bun, Node, edge). A fresh random 96-bit nonce per
// encryption; the 128-bit tag is appended to the ciphertext by Web Crypto. Associated data binds
// a ciphertext to where it belongs: decrypting with other AAD fails like tampering does.

export const NONCE_BYTES = 12
export const KEY_BYTES = 32
const TAG_BYTES = 16

/** Raised when a ciphertext, its nonce, its tag or its associated data do not check out. */
export class DecryptionError extends Error {
  override name = 'DecryptionError'
}

/** Imports 32 raw bytes as a non-extractable AES-256-GCM key. */
export async function importAesKey(raw: Uint8Array): Promise<CryptoKey> {
  if (raw.byteLength !== KEY_BYTES)
    throw new Error(`an AES-256 key is ${KEY_BYTES} bytes, not ${raw.byteLength}`)
  return crypto.subtle.importKey('raw', raw as Uint8Array<ArrayBuffer>, { name: 'AES-GCM' }, false, [
    'encrypt',
    'decrypt',
  ])
}

export function randomBytes(length: number): Uint8Array<ArrayBuffer> {
  return crypto.getRandomValues(new Uint8Array(length))
}

/** Encrypts and returns nonce | ciphertext | tag in one buffer. */
export async function seal(key: CryptoKey, plaintext: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
  const nonce = randomBytes(NONCE_BYTES)
  const sealed = new Uint8Array(
    await crypto.subtle.encrypt(
      {
        name: 'AES-GCM',
        iv: nonce,
        additionalData: aad as Uint8Array<ArrayBuffer>,
        tagLength: TAG_BYTES * 8,
      },
      key,
      plaintext as Uint8Array<ArrayBuffer>,
    ),
  )
  const out = new Uint8Array(NONCE_BYTES + sealed.byteLength)
  out.set(nonce, 0)
  out.set(sealed, NONCE_BYTES)
  return out
}

/** Reverses seal(); any change to nonce, ciphertext, tag or aad gives DecryptionError. */
export async function open(key: CryptoKey, box: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
  if (box.byteLength < NONCE_BYTES + TAG_BYTES) throw new DecryptionError('ciphertext too short')
  try {
    return new Uint8Array(
      await crypto.subtle.decrypt(
        {
          name: 'AES-GCM',
          iv: box.subarray(0, NONCE_BYTES) as Uint8Array<ArrayBuffer>,
          additionalData: aad as Uint8Array<ArrayBuffer>,
          tagLength: TAG_BYTES * 8,
        },
        key,
        box.subarray(NONCE_BYTES) as Uint8Array<ArrayBuffer>,
      ),
    )
  } catch {
    throw new DecryptionError('authentication failed: the ciphertext was altered or belongs elsewhere')
  }
}

export function toBase64Url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url')
}

export function fromBase64Url(text: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new DecryptionError('not base64url')
  return new Uint8Array(Buffer.from(text, 'base64url'))
}

export async function sha256Hex(data: Uint8Array | string): Promise<string> {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data
  return Buffer.from(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>)).toString('hex')
}
