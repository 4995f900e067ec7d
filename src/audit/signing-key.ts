// The key that signs checkpoints: RSA-PSS 3072 with SHA-256 through Web Crypto. Created on first
// use; the private key is stored encrypted by the keyring, the public key (SPKI) is published
// so anyone can check checkpoints without trusting the service.
import { createHash } from 'node:crypto'
import type { Keyring } from '../keys/keyring.ts'
import type { Db } from '../platform/db/database.ts'

export const signatureAlgorithm = { name: 'RSA-PSS', saltLength: 32 } as const
const importAlgorithm = { name: 'RSA-PSS', hash: 'SHA-256' } as const

export type SigningKey = { keyId: string; publicKeySpki: string; privateKey: CryptoKey }
export type PublicKey = { keyId: string; publicKeySpki: string; createdAt: Date }

const field = (keyId: string) => ({ table: 'audit_signing_keys', column: 'private_key_enc', rowKey: keyId })

/** The newest signing key, created (once, even with replicas racing) when there is none. */
export async function loadSigningKey(db: Db, keyring: Keyring): Promise<SigningKey> {
  const [row] = await db<{ keyId: string; publicKeySpki: string; privateKeyEnc: string }[]>`
    select key_id as "keyId", public_key_spki as "publicKeySpki", private_key_enc as "privateKeyEnc"
      from audit_signing_keys order by created_at desc, key_id limit 1`
  if (!row) {
    const pair = (await crypto.subtle.generateKey(
      { ...importAlgorithm, modulusLength: 3072, publicExponent: new Uint8Array([1, 0, 1]) },
      true,
      ['sign', 'verify'],
    )) as CryptoKeyPair
    const spki = Buffer.from(await crypto.subtle.exportKey('spki', pair.publicKey)).toString('base64')
    const pkcs8 = Buffer.from(await crypto.subtle.exportKey('pkcs8', pair.privateKey)).toString('base64')
    const keyId = createHash('sha256').update(spki).digest('hex').slice(0, 16)
    await db`
      insert into audit_signing_keys (key_id, public_key_spki, private_key_enc)
      select ${keyId}, ${spki}, ${await keyring.encrypt(pkcs8, field(keyId))}
       where not exists (select 1 from audit_signing_keys)`
    return loadSigningKey(db, keyring)
  }
  const pkcs8 = Buffer.from(await keyring.decrypt(row.privateKeyEnc, field(row.keyId)), 'base64')
  const privateKey = await crypto.subtle.importKey('pkcs8', pkcs8, importAlgorithm, false, ['sign'])
  return { keyId: row.keyId, publicKeySpki: row.publicKeySpki, privateKey }
}

export async function publicKeys(db: Db): Promise<PublicKey[]> {
  return db<PublicKey[]>`
    select key_id as "keyId", public_key_spki as "publicKeySpki", created_at as "createdAt"
      from audit_signing_keys order by created_at`
}

export async function sign(key: SigningKey, data: string): Promise<string> {
  const signature = await crypto.subtle.sign(
    signatureAlgorithm,
    key.privateKey,
    new TextEncoder().encode(data),
  )
  return Buffer.from(signature).toString('base64url')
}

/** Verifies with a published SPKI (base64): what an outside verifier does. */
export async function verifySignature(
  publicKeySpki: string,
  data: string,
  signature: string,
): Promise<boolean> {
  const key = await crypto.subtle.importKey(
    'spki',
    Buffer.from(publicKeySpki, 'base64'),
    importAlgorithm,
    false,
    ['verify'],
  )
  return crypto.subtle.verify(
    signatureAlgorithm,
    key,
    Buffer.from(signature, 'base64url'),
    new TextEncoder().encode(data),
  )
}
