// A backup repository: the layout of its objects in a BlobStore and the only code that reads or
// writes them.
//   repository.json                       id, format, the repository secret (wrapped)
//   backups/<backup>/manifest.json        the backup's key (wrapped) and its sealed manifest
//   backups/<backup>/key.json             the backup's key re-wrapped by a master-key rotation
//   backups/<backup>/chunks/<ab>/<id>     chunks this backup stored first (sealed, compressed)
//   wal/<system>/<timeline>/<segment>[.partial]  WAL segments (sealed, compressed), history files
//                                         too, per cluster (its system identifier): instances
//                                         sharing a repository have segments of the same names
// A restore needs nothing but these objects and the master key (sealing.ts says how each one
// is protected). Chunks live under the backup that stored them, so deleting a backup chain
// deletes its prefixes, and an incremental's manifest names the backups whose chunks it reuses.
import { createHash } from 'node:crypto'
import type { KeyEncryptionKey } from '../keys/kek.ts'
import type { BlobStore } from '../platform/blob/blob-store.ts'
import { DecryptionError, importAesKey } from '../platform/crypto/aes-gcm.ts'
import type { Compression } from './compression.ts'
import type { BackupManifest } from './manifest.ts'
import {
  backupKeyContext,
  chunkAad,
  manifestAad,
  newKey,
  openObject,
  RepositoryKeys,
  repositoryKeyContext,
  sealObject,
  unwrapKey,
  type WrappedKey,
  walAad,
  wrapKey,
} from './sealing.ts'

/** The master key given cannot open this repository or backup. */
export class BackupKeyMismatchError extends Error {
  override name = 'BackupKeyMismatchError'
}
/** An object the backup needs is missing or fails its checks. */
export class BackupIntegrityError extends Error {
  override name = 'BackupIntegrityError'
}

type RepositoryFile = { format: 1; id: string; createdAt: string; secret: WrappedKey }
type ManifestEnvelope = { format: 1; backupId: string; key: WrappedKey; sealed: string }

const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value))
const parse = <T>(bytes: Uint8Array): T => JSON.parse(new TextDecoder().decode(bytes)) as T

export const chunkKey = (owner: string, id: string) => `backups/${owner}/chunks/${id.slice(0, 2)}/${id}`
export const manifestKey = (backupId: string) => `backups/${backupId}/manifest.json`
export const backupKeyFile = (backupId: string) => `backups/${backupId}/key.json`
export const walKey = (system: string, timeline: string, name: string) => `wal/${system}/${timeline}/${name}`

/** The data key of one backup, ready to seal and open its chunks. */
export type BackupKey = {
  backupId: string
  key: CryptoKey
  /** The same key's bytes, for the chunk threads (chunk-pool.ts), which seal with node:crypto. */
  raw: Uint8Array
  wrapped: WrappedKey
}

export class BackupRepository {
  private readonly backupKeys = new Map<string, Promise<CryptoKey>>()

  private constructor(
    readonly store: BlobStore,
    readonly id: string,
    readonly keys: RepositoryKeys,
    /** The master keys that may open it: the active one first (it wraps new keys). */
    private readonly keks: KeyEncryptionKey[],
  ) {}

  /** Opens the repository in `store`, creating it when empty and `create` is set. */
  static async open(
    store: BlobStore,
    keks: KeyEncryptionKey[],
    options: { create: boolean },
  ): Promise<BackupRepository> {
    const active = keks[0]
    if (!active) throw new BackupKeyMismatchError('no master key')
    const found = await store.get('repository.json')
    if (!found) {
      if (!options.create) throw new BackupIntegrityError(`${store.description} holds no backup repository`)
      const id = crypto.randomUUID()
      const secret = newKey()
      const file: RepositoryFile = {
        format: 1,
        id,
        createdAt: new Date().toISOString(),
        secret: await wrapKey(active, secret, repositoryKeyContext(id)),
      }
      await store.put('repository.json', json(file), 'application/json')
      return new BackupRepository(store, id, await RepositoryKeys.from(secret), keks)
    }
    const file = parse<RepositoryFile>(found)
    const secret = await unwrapKey(keks, file.secret, repositoryKeyContext(file.id)).catch(() => null)
    if (!secret)
      throw new BackupKeyMismatchError(
        `the repository at ${store.description} was created with master key ${file.secret.kekId}, not ${keks.map((k) => k.id).join(' or ')}`,
      )
    return new BackupRepository(store, file.id, await RepositoryKeys.from(secret), keks)
  }

  /** A new data key for a backup, wrapped by the active master key. */
  async newBackupKey(backupId: string): Promise<BackupKey> {
    const raw = newKey()
    const wrapped = await wrapKey(this.keks[0] as KeyEncryptionKey, raw, backupKeyContext(backupId))
    const key = await importAesKey(raw)
    this.backupKeys.set(backupId, Promise.resolve(key))
    return { backupId, key, raw, wrapped }
  }

  async putChunk(
    owner: BackupKey,
    id: string,
    plaintext: Uint8Array,
    compression: Compression,
    level?: number,
  ) {
    const body = await sealObject(owner.key, plaintext, chunkAad(owner.backupId, id), compression, level)
    await this.store.put(chunkKey(owner.backupId, id), body)
    return body.byteLength
  }

  /** Stores a chunk body sealed elsewhere (chunk-pool.ts, with chunkAad(owner, id)). */
  async putSealedChunk(owner: BackupKey, id: string, body: Uint8Array) {
    await this.store.put(chunkKey(owner.backupId, id), body)
    return body.byteLength
  }

  /** A chunk's plaintext, checked against its id; BackupIntegrityError when missing or altered.
   * `size`: the chunk's size from the manifest, when the caller has it (it speeds decompression). */
  async getChunk(owner: string, id: string, size?: number): Promise<Uint8Array> {
    const body = await this.store.get(chunkKey(owner, id))
    if (!body) throw new BackupIntegrityError(`chunk ${id} of backup ${owner} is missing`)
    let plaintext: Uint8Array
    try {
      plaintext = await openObject(await this.keyOf(owner), body, chunkAad(owner, id), size)
    } catch (error) {
      if (error instanceof DecryptionError)
        throw new BackupIntegrityError(`chunk ${id} of backup ${owner} was altered or does not belong there`)
      throw error
    }
    if (this.keys.chunkId(plaintext) !== id)
      throw new BackupIntegrityError(`chunk ${id} does not hold its content`)
    return plaintext
  }

  async putManifest(manifest: BackupManifest, key: BackupKey, compression: Compression): Promise<string> {
    const sealed = await sealObject(key.key, json(manifest), manifestAad(manifest.backupId), compression)
    const envelope: ManifestEnvelope = {
      format: 1,
      backupId: manifest.backupId,
      key: key.wrapped,
      sealed: Buffer.from(sealed).toString('base64url'),
    }
    const body = json(envelope)
    await this.store.put(manifestKey(manifest.backupId), body, 'application/json')
    return createHash('sha256').update(body).digest('hex')
  }

  /** The manifest of a backup and the SHA-256 of its object. */
  async getManifest(backupId: string): Promise<{ manifest: BackupManifest; sha256: string }> {
    const found = await this.findManifest(backupId)
    if (!found) throw new BackupIntegrityError(`the manifest of backup ${backupId} is missing`)
    return found
  }

  /** As getManifest, but null when the backup has no manifest (yet: it is written last). */
  async findManifest(backupId: string): Promise<{ manifest: BackupManifest; sha256: string } | null> {
    const body = await this.store.get(manifestKey(backupId))
    if (!body) return null
    const envelope = parse<ManifestEnvelope>(body)
    if (envelope.backupId !== backupId)
      throw new BackupIntegrityError(`the manifest stored for ${backupId} belongs to ${envelope.backupId}`)
    let manifest: BackupManifest
    try {
      const plain = await openObject(
        await this.keyOf(backupId, envelope.key),
        new Uint8Array(Buffer.from(envelope.sealed, 'base64url')),
        manifestAad(backupId),
      )
      manifest = parse<BackupManifest>(plain)
    } catch (error) {
      if (error instanceof DecryptionError)
        throw new BackupIntegrityError(`the manifest of backup ${backupId} was altered`)
      throw error
    }
    return { manifest, sha256: createHash('sha256').update(body).digest('hex') }
  }

  /** A backup's data key, unwrapped from its manifest (once). */
  private keyOf(backupId: string, wrapped?: WrappedKey): Promise<CryptoKey> {
    let key = this.backupKeys.get(backupId)
    if (!key) {
      key = (async () => {
        const stored = await wrappedKeyOf(this.store, backupId, wrapped)
        if (!stored) throw new BackupIntegrityError(`backup ${backupId} is missing (its manifest is gone)`)
        const raw = await unwrapKey(this.keks, stored, backupKeyContext(backupId)).catch(() => null)
        if (!raw)
          throw new BackupKeyMismatchError(
            `backup ${backupId} was encrypted under master key ${stored.kekId}, which is not configured`,
          )
        return importAesKey(raw)
      })()
      key.catch(() => this.backupKeys.delete(backupId))
      this.backupKeys.set(backupId, key)
    }
    return key
  }

  async putWal(
    system: string,
    timeline: string,
    name: string,
    content: Uint8Array,
    compression: Compression,
  ) {
    const body = await sealObject(this.keys.walKey, content, walAad(system, name), compression)
    await this.store.put(walKey(system, timeline, name), body)
    return body.byteLength
  }

  /** A WAL file, or null when the repository does not have it. */
  async getWal(system: string, timeline: string, name: string): Promise<Uint8Array | null> {
    const body = await this.store.get(walKey(system, timeline, name))
    if (!body) return null
    try {
      // Segments (and partial ones, padded by pg_receivewal) are 16 MiB unless initdb said otherwise.
      const segment = /^[0-9A-F]{24}(\.partial)?$/.test(name) ? 16 << 20 : undefined
      return await openObject(this.keys.walKey, body, walAad(system, name), segment)
    } catch (error) {
      if (error instanceof DecryptionError) throw new BackupIntegrityError(`WAL file ${name} was altered`)
      throw error
    }
  }

  /** WAL file names stored for a cluster's timeline (8 hex digits), in order. */
  async listWal(system: string, timeline: string): Promise<string[]> {
    const prefix = `wal/${system}/${timeline}/`
    return (await this.store.list(prefix)).map((key) => key.slice(prefix.length))
  }

  /** Timelines of a cluster that have WAL. */
  async walTimelines(system: string): Promise<string[]> {
    return [
      ...new Set((await this.store.list(`wal/${system}/`)).map((key) => key.split('/')[2] as string)),
    ].sort()
  }

  async deleteWal(system: string, timeline: string, name: string) {
    await this.store.delete(walKey(system, timeline, name))
  }

  /** Removes every object of a backup (its manifest last would leave chunks behind on a crash:
   * the manifest goes first, so a half-deleted backup is visibly gone and GC finishes the rest). */
  async deleteBackup(backupId: string): Promise<number> {
    await this.store.delete(manifestKey(backupId))
    const keys = await this.store.list(`backups/${backupId}/`)
    for (const key of keys) await this.store.delete(key)
    // A runner killed mid-put leaves a temporary file the listing does not show.
    await this.store.clearPrefix?.(`backups/${backupId}/`)
    this.backupKeys.delete(backupId)
    return keys.length
  }

  /** Deletes the chunks of a backup except `keep` (ids), leaving its manifest and key: the
   * chunks other backups still reuse stay readable. Returns how many went. */
  async deleteChunksExcept(backupId: string, keep: Set<string>): Promise<number> {
    const prefix = `backups/${backupId}/chunks/`
    const doomed = (await this.store.list(prefix)).filter((key) => !keep.has(key.split('/').at(-1) as string))
    for (const key of doomed) await this.store.delete(key)
    return doomed.length
  }

  /** Backup ids that have objects in the repository (manifest or chunks). */
  storedBackupIds(): Promise<string[]> {
    return storedBackupIds(this.store)
  }

  /**
   * Re-wraps under the active master key (keks[0]) what an older one wraps here: the repository
   * secret, and each backup's data key (into key.json: the manifest is never rewritten, since its
   * SHA-256 is on record). Idempotent: what the active key already wraps is left alone. Backups
   * whose key no configured master key opens are returned in `unopened`.
   */
  static async rewrapKeys(
    store: BlobStore,
    keks: KeyEncryptionKey[],
  ): Promise<{ secret: boolean; backupKeys: number; unopened: string[] }> {
    const active = keks[0]
    if (!active) throw new BackupKeyMismatchError('no master key')
    const found = await store.get('repository.json')
    if (!found) return { secret: false, backupKeys: 0, unopened: [] }
    const file = parse<RepositoryFile>(found)
    let secret = false
    if (file.secret.kekId !== active.id) {
      const raw = await unwrapKey(keks, file.secret, repositoryKeyContext(file.id)).catch(() => null)
      if (!raw)
        throw new BackupKeyMismatchError(
          `the repository at ${store.description} was created with master key ${file.secret.kekId}, which is not configured`,
        )
      const rewrapped = { ...file, secret: await wrapKey(active, raw, repositoryKeyContext(file.id)) }
      await store.put('repository.json', json(rewrapped), 'application/json')
      secret = true
    }
    let backupKeys = 0
    const unopened: string[] = []
    for (const backupId of await storedBackupIds(store)) {
      const stored = await wrappedKeyOf(store, backupId)
      // No key: a backup still running (its manifest comes last), or leftovers.
      if (!stored || stored.kekId === active.id) continue
      const raw = await unwrapKey(keks, stored, backupKeyContext(backupId)).catch(() => null)
      if (!raw) {
        unopened.push(backupId)
        continue
      }
      const rewrapped = await wrapKey(active, raw, backupKeyContext(backupId))
      await store.put(backupKeyFile(backupId), json(rewrapped), 'application/json')
      backupKeys++
    }
    return { secret, backupKeys, unopened }
  }
}

async function storedBackupIds(store: BlobStore): Promise<string[]> {
  return [...new Set((await store.list('backups/')).map((key) => key.split('/')[1] as string))].sort()
}

/** A backup's wrapped data key: key.json once a master-key rotation re-wrapped it, else the one
 * in its manifest (`inManifest` when already read); null when the backup has neither. */
async function wrappedKeyOf(
  store: BlobStore,
  backupId: string,
  inManifest?: WrappedKey,
): Promise<WrappedKey | null> {
  const rewrapped = await store.get(backupKeyFile(backupId))
  if (rewrapped) return parse<WrappedKey>(rewrapped)
  if (inManifest) return inManifest
  const body = await store.get(manifestKey(backupId))
  return body ? parse<ManifestEnvelope>(body).key : null
}
