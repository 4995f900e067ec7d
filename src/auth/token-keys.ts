// Access-token signing keys: Ed25519 (EdDSA), created on first use and rotated on demand. The
// private key is stored encrypted by the keyring; public keys stay in the JWKS until every token
// they signed has expired, so a rotation logs nobody out. Every replica reads the same keys.
import { createHash } from 'node:crypto'
import { exportJWK, exportPKCS8, generateKeyPair, importJWK, importPKCS8, type JWK } from 'jose'
import type { Keyring } from '../keys/keyring.ts'
import { type Db, withTransaction } from '../platform/db/database.ts'

export const tokenAlgorithm = 'EdDSA'

export type TokenSigningKey = { kid: string; privateKey: CryptoKey }
export type PublishedKey = JWK & { kid: string; alg: string; use: 'sig' }

const field = (kid: string) => ({ table: 'auth_signing_keys', column: 'private_key_enc', rowKey: kid })

/** The newest active key, created when there is none (replicas racing create only one). */
export async function currentSigningKey(db: Db, keyring: Keyring): Promise<TokenSigningKey> {
  const [row] = await db<{ kid: string; privateKeyEnc: string }[]>`
    select kid, private_key_enc as "privateKeyEnc" from auth_signing_keys
     where retired_at is null order by created_at desc, kid limit 1`
  if (!row) {
    await createSigningKey(db, keyring, { onlyIfNone: true })
    return currentSigningKey(db, keyring)
  }
  const pkcs8 = await keyring.decrypt(row.privateKeyEnc, field(row.kid))
  return { kid: row.kid, privateKey: await importPKCS8(pkcs8, tokenAlgorithm) }
}

async function createSigningKey(db: Db, keyring: Keyring, options: { onlyIfNone: boolean }) {
  const pair = await generateKeyPair(tokenAlgorithm, { crv: 'Ed25519', extractable: true })
  const jwk = await exportJWK(pair.publicKey)
  const kid = createHash('sha256')
    .update(jwk.x ?? '')
    .digest('base64url')
    .slice(0, 16)
  const privateKeyEnc = await keyring.encrypt(await exportPKCS8(pair.privateKey), field(kid))
  const publicJwk = JSON.stringify({ ...jwk, kid, alg: tokenAlgorithm, use: 'sig' })
  // One active key (a unique index): of replicas racing for the first key, one inserts it.
  if (options.onlyIfNone)
    await db`
      insert into auth_signing_keys (kid, algorithm, public_jwk, private_key_enc)
      values (${kid}, ${tokenAlgorithm}, ${publicJwk}::text::jsonb, ${privateKeyEnc})
      on conflict do nothing`
  else
    await withTransaction(db, async (tx) => {
      await tx`update auth_signing_keys set retired_at = now() where retired_at is null`
      await tx`
        insert into auth_signing_keys (kid, algorithm, public_jwk, private_key_enc)
        values (${kid}, ${tokenAlgorithm}, ${publicJwk}::text::jsonb, ${privateKeyEnc})`
    })
  return kid
}

/** Starts signing with a new key; the old ones keep verifying until their tokens have expired. */
export async function rotateSigningKey(db: Db, keyring: Keyring): Promise<string> {
  return createSigningKey(db, keyring, { onlyIfNone: false })
}

/** Public keys that may still verify tokens (JWKS). */
export async function publishedKeys(db: Db, accessTokenTtlMs: number): Promise<PublishedKey[]> {
  const rows = await db<{ jwk: PublishedKey }[]>`
    select public_jwk as jwk from auth_signing_keys
     where retired_at is null or retired_at > now() - make_interval(secs => ${accessTokenTtlMs / 1000})
     order by created_at desc`
  return rows.map((r) => r.jwk)
}

/** Imports a published key for verification. */
export const verificationKey = (jwk: PublishedKey) => importJWK(jwk, tokenAlgorithm) as Promise<CryptoKey>
