import { describe, expect, it } from 'vitest'
import {
  DecryptionError,
  importAesKey,
  NONCE_BYTES,
  open,
  randomBytes,
  seal,
} from '../../src/platform/crypto/aes-gcm.ts'

const text = (s: string) => new TextEncoder().encode(s)

describe('AES-256-GCM seal/open', () => {
  it('round-trips with the same key and associated data', async () => {
    const key = await importAesKey(randomBytes(32))
    const box = await seal(key, text('s3cret'), text('users|password|42'))
    expect(new TextDecoder().decode(await open(key, box, text('users|password|42')))).toBe('s3cret')
  })

  it('uses a fresh nonce each time', async () => {
    const key = await importAesKey(randomBytes(32))
    const a = await seal(key, text('same'), text('aad'))
    const b = await seal(key, text('same'), text('aad'))
    expect(Buffer.from(a.subarray(0, NONCE_BYTES)).equals(Buffer.from(b.subarray(0, NONCE_BYTES)))).toBe(
      false,
    )
  })

  it.each([
    ['nonce', 0],
    ['ciphertext', NONCE_BYTES],
    ['tag', -1],
  ])('rejects a flipped bit in the %s', async (_part, offset) => {
    const key = await importAesKey(randomBytes(32))
    const box = await seal(key, text('value'), text('aad'))
    const index = offset < 0 ? box.byteLength + offset : offset
    box[index] = (box[index] as number) ^ 0x01
    await expect(open(key, box, text('aad'))).rejects.toThrow(DecryptionError)
  })

  it('rejects other associated data, another key and a truncated box', async () => {
    const key = await importAesKey(randomBytes(32))
    const box = await seal(key, text('value'), text('row 1'))
    await expect(open(key, box, text('row 2'))).rejects.toThrow(DecryptionError)
    await expect(open(await importAesKey(randomBytes(32)), box, text('row 1'))).rejects.toThrow(
      DecryptionError,
    )
    await expect(open(key, box.subarray(0, 20), text('row 1'))).rejects.toThrow(/too short/)
  })

  it('refuses keys that are not 32 bytes', async () => {
    await expect(importAesKey(randomBytes(16))).rejects.toThrow(/32 bytes, not 16/)
  })
})
