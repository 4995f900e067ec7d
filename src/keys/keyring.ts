// The keyring: data-encryption keys (DEKs) unwrapped in memory, one active for new values, older
// ones decrypt-only until rewrap has moved their values, then retired (refused). Encryptions
// are counted in blocks reserved in the store, so replicas never under-count, and the active
// key is rotated automatically well before GCM's 2^32 limit.
import { importAesKey, open, randomBytes, seal } from '../platform/crypto/aes-gcm.ts'
import type { Database, Tx } from '../platform/db/database.ts'
import { withTransaction } from '../platform/db/database.ts'
import type { Logger } from '../platform/log.ts'
import {
  dataKeyContext,
  type FieldRef,
  fieldContext,
  formatCiphertext,
  parseCiphertext,
} from './ciphertext.ts'
import { type KeyEncryptionKey, MasterKeyError } from './kek.ts'
import {
  type DataKeyRow,
  type DataKeyState,
  insertDataKey,
  keyringLockKey,
  listDataKeys,
  reserveEncryptions,
  rewrapDataKey,
  setDataKeyState,
} from './repo.ts'

/** The value names a key version that was retired: its values should all have been rewrapped. */
export class KeyRetiredError extends Error {
  override name = 'KeyRetiredError'
  constructor(readonly version: number) {
    super(`data key v${version} is retired: values encrypted under it are no longer accepted`)
  }
}

/** The value names a key version this installation does not have. */
export class UnknownKeyError extends Error {
  override name = 'UnknownKeyError'
  constructor(readonly version: number) {
    super(`data key v${version} does not exist in this keyring`)
  }
}

export type KeyringOptions = {
  /** Rotate the active key once this many encryptions were reserved (default 2^30). */
  rotateAfterEncryptions?: number
  /** Encryptions reserved per round trip to the store (default 1024). */
  reserveBlock?: number
  /** A reservation is re-checked against the store after this long (default 30 s), so a
   * rotation by another replica is followed within that time. */
  reservationTtlMs?: number
}

export type DataKeyStatus = {
  version: number
  state: DataKeyState
  kekId: string
  encryptions: string
  createdAt: string
  stateChangedAt: string
}

type Loaded = { state: DataKeyState; key?: CryptoKey }

export class Keyring {
  private keys = new Map<number, Loaded>()
  private active: { version: number; remaining: number; reservedAt: number } | undefined
  private reserving: Promise<void> | undefined
  private readonly rotateAfter: bigint
  private readonly block: number
  private readonly reservationTtlMs: number

  private constructor(
    private readonly db: Database,
    private readonly kek: KeyEncryptionKey,
    private readonly previousKek: KeyEncryptionKey | undefined,
    private readonly log: Logger,
    options: KeyringOptions,
  ) {
    this.rotateAfter = BigInt(options.rotateAfterEncryptions ?? 2 ** 30)
    this.block = options.reserveBlock ?? 1024
    this.reservationTtlMs = options.reservationTtlMs ?? 30_000
  }

  /**
   * Loads (creating on first use) the keyring. A data key wrapped by a master key other than
   * the configured one (or the previous one, during KEK rotation) stops here with a clear
   * MasterKeyError, before anything is written.
   */
  static async open(options: {
    db: Database
    kek: KeyEncryptionKey
    previousKek?: KeyEncryptionKey
    log: Logger
    options?: KeyringOptions
  }): Promise<Keyring> {
    const keyring = new Keyring(
      options.db,
      options.kek,
      options.previousKek,
      options.log,
      options.options ?? {},
    )
    await keyring.reload()
    // 0: only if no key is active yet, so replicas starting together on a new store make one.
    if (![...keyring.keys.values()].some((k) => k.state === 'active')) await keyring.rotate('first start', 0)
    return keyring
  }

  /** Re-reads the key table (after another replica rotated, for instance). */
  async reload(): Promise<void> {
    const rows = await listDataKeys(this.db.sql)
    const keys = new Map<number, Loaded>()
    for (const row of rows) {
      keys.set(
        row.version,
        row.state === 'retired' ? { state: row.state } : { state: row.state, key: await this.unwrap(row) },
      )
    }
    this.keys = keys
    const active = rows.find((row) => row.state === 'active')
    if (this.active && this.active.version !== active?.version) this.active = undefined
  }

  private async unwrap(row: DataKeyRow): Promise<CryptoKey> {
    const kek =
      row.kekId === this.kek.id ? this.kek : row.kekId === this.previousKek?.id ? this.previousKek : undefined
    if (!kek) {
      throw new MasterKeyError(
        `data key v${row.version} was wrapped by master key ${row.kekId}, but the configured master key is ${this.kek.id}` +
          `${this.previousKek ? ` (previous: ${this.previousKek.id})` : ''}: set PGA_MASTER_KEY to the key in use, or pass it as PGA_MASTER_KEY_PREVIOUS while rotating`,
      )
    }
    const raw = await kek.unwrap(new Uint8Array(row.wrappedKey), dataKeyContext(row.version))
    try {
      return await importAesKey(raw)
    } finally {
      raw.fill(0)
    }
  }

  /** Encrypts a value for the given place with the active key. */
  async encrypt(plaintext: string, field: FieldRef): Promise<string> {
    const version = await this.takeEncryption()
    const key = this.keys.get(version)?.key as CryptoKey
    const box = await seal(key, new TextEncoder().encode(plaintext), fieldContext(field, version))
    return formatCiphertext(version, box)
  }

  /** Decrypts a value read from the given place. Moved, altered or relabelled values fail. */
  async decrypt(value: string, field: FieldRef): Promise<string> {
    const { version, box } = parseCiphertext(value)
    let entry = this.keys.get(version)
    if (!entry) {
      await this.reload()
      entry = this.keys.get(version)
    }
    if (!entry) throw new UnknownKeyError(version)
    if (entry.state === 'retired' || !entry.key) throw new KeyRetiredError(version)
    return new TextDecoder().decode(await open(entry.key, box, fieldContext(field, version)))
  }

  /** The version new values are encrypted with. */
  activeVersion(): number {
    const active = [...this.keys.entries()].find(([, k]) => k.state === 'active')
    if (!active) throw new Error('the keyring has no active key')
    return active[0]
  }

  private async takeEncryption(): Promise<number> {
    for (;;) {
      const active = this.active
      if (active && active.remaining > 0 && performance.now() - active.reservedAt < this.reservationTtlMs) {
        active.remaining--
        return active.version
      }
      this.reserving ??= this.reserve().finally(() => {
        this.reserving = undefined
      })
      await this.reserving
    }
  }

  /** Reserves a block of encryptions under the active key; rotates when the budget is spent. */
  private async reserve(): Promise<void> {
    const version = this.activeVersion()
    const total = await reserveEncryptions(this.db.sql, version, this.block)
    if (total === null) {
      // Another replica rotated: follow it.
      await this.reload()
      return
    }
    if (total > this.rotateAfter) {
      this.log.info('data key reached its encryption budget; rotating', {
        version,
        encryptions: total.toString(),
      })
      await this.rotate('encryption budget reached', version)
      return
    }
    this.active = { version, remaining: this.block, reservedAt: performance.now() }
  }

  /**
   * Creates a new active data key; the previous active one becomes decrypt-only until rewrap
   * has moved its values. With `onlyIfActive`, does nothing when another version is active
   * (another replica rotated first; 0 means "only if none is active"). Returns the active
   * version afterwards.
   */
  async rotate(
    reason: string,
    onlyIfActive?: number,
    /** Runs in the rotation's transaction (the audit event of the rotation). */
    alongside?: (tx: Tx, version: number) => Promise<unknown>,
  ): Promise<number> {
    const raw = randomBytes(32)
    const version = await withTransaction(this.db.sql, async (tx) => {
      await tx`select pg_advisory_xact_lock(${keyringLockKey}::bigint)`
      const rows = await listDataKeys(tx)
      const current = rows.find((row) => row.state === 'active')
      if (onlyIfActive !== undefined && current && current.version !== onlyIfActive) return current.version
      const next = Math.max(0, ...rows.map((row) => row.version)) + 1
      if (current) await setDataKeyState(tx, current.version, 'active', 'decrypt_only')
      await insertDataKey(tx, {
        version: next,
        wrappedKey: await this.kek.wrap(raw, dataKeyContext(next)),
        kekId: this.kek.id,
      })
      await alongside?.(tx, next)
      return next
    })
    raw.fill(0)
    await this.reload()
    this.log.info('data key rotated', { activeVersion: version, reason })
    return version
  }

  /** Marks a decrypt-only key retired; its values must all have been rewrapped first. */
  async retire(version: number): Promise<boolean> {
    const done = await setDataKeyState(this.db.sql, version, 'decrypt_only', 'retired')
    await this.reload()
    if (done) this.log.info('data key retired', { version })
    return done
  }

  /** Re-wraps every data key held by the previous master key with the current one (KEK
   * rotation). Field values are untouched. Returns the versions re-wrapped. */
  async rotateMasterKey(): Promise<number[]> {
    if (!this.previousKek)
      throw new MasterKeyError('KEK rotation needs the old key as PGA_MASTER_KEY_PREVIOUS')
    const previous = this.previousKek
    const moved = await withTransaction(this.db.sql, async (tx) => {
      await tx`select pg_advisory_xact_lock(${keyringLockKey}::bigint)`
      const versions: number[] = []
      for (const row of await listDataKeys(tx)) {
        if (row.kekId !== previous.id) continue
        const raw = await previous.unwrap(new Uint8Array(row.wrappedKey), dataKeyContext(row.version))
        const wrapped = await this.kek.wrap(raw, dataKeyContext(row.version))
        raw.fill(0)
        if (await rewrapDataKey(tx, row.version, previous.id, wrapped, this.kek.id))
          versions.push(row.version)
      }
      return versions
    })
    await this.reload()
    this.log.info('master key rotated', { kekId: this.kek.id, rewrapped: moved })
    return moved
  }

  async status(): Promise<DataKeyStatus[]> {
    return (await listDataKeys(this.db.sql)).map((row) => ({
      version: row.version,
      state: row.state,
      kekId: row.kekId,
      encryptions: row.encryptions,
      createdAt: row.createdAt.toISOString(),
      stateChangedAt: row.stateChangedAt.toISOString(),
    }))
  }
}
