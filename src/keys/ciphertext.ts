// The self-describing field format: pga:v1:<dek-version>:<base64url(nonce | ciphertext | tag)>.
// The associated data binds a value to its place (table, column, row key) and to the data-key
// version, so a ciphertext copied to another row or column, or relabelled, does not decrypt.
import { DecryptionError, fromBase64Url, toBase64Url } from '../platform/crypto/aes-gcm.ts'

/** Where an encrypted value lives. rowKey is the row's primary key as text. */
export type FieldRef = { table: string; column: string; rowKey: string }

const prefix = 'pga:v1:'
const pattern = /^pga:v1:(\d{1,9}):([A-Za-z0-9_-]+)$/

export function isCiphertext(value: string): boolean {
  return value.startsWith(prefix)
}

export function formatCiphertext(version: number, box: Uint8Array): string {
  return `${prefix}${version}:${toBase64Url(box)}`
}

export function parseCiphertext(value: string): { version: number; box: Uint8Array } {
  const match = pattern.exec(value)
  if (!match) throw new DecryptionError('not a pgAnalytics ciphertext (expected pga:v1:<version>:<data>)')
  return { version: Number(match[1]), box: fromBase64Url(match[2] as string) }
}

/** Associated data for a field: format, place and key version, unambiguous (length-prefixed). */
export function fieldContext(field: FieldRef, version: number): Uint8Array {
  const parts = ['pga:v1', field.table, field.column, field.rowKey, String(version)]
  return new TextEncoder().encode(parts.map((p) => `${p.length}:${p}`).join('|'))
}

/** Associated data for wrapping a data key with the KEK. */
export function dataKeyContext(version: number): Uint8Array {
  return new TextEncoder().encode(`pga:dek:${version}`)
}
