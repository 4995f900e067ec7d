// The keys capability as the rest of the service sees it: opens the keyring once the schema is
// migrated, runs rewrap in the background (every replica tries; the lease lets one work), and
// offers the verbs the CLI and the admin API call.
import { type AuditContext, recordAuditEvent } from '../audit/events.ts'
import { UnavailableError } from '../http/errors.ts'
import type { Database } from '../platform/db/database.ts'
import type { Logger } from '../platform/log.ts'
import type { StateStore } from '../platform/state/state-store.ts'
import type { KeyEncryptionKey } from './kek.ts'
import { type DataKeyStatus, Keyring, type KeyringOptions } from './keyring.ts'
import { currentRewrapRun, type RewrapRun } from './repo.ts'
import { type RewrapOutcome, rewrapStaleValues } from './rewrap.ts'

export type KeyServiceOptions = KeyringOptions & {
  /** How often each replica checks for values to rewrap (default 30 s). */
  maintenanceIntervalMs?: number
  /** See RewrapOptions.settleMs (default 2 min). */
  settleMs?: number
  batchSize?: number
}

export type KeyringReport = {
  activeVersion: number
  keys: DataKeyStatus[]
  rewrap: (RewrapRun & { stalled: boolean }) | null
}

/** Something outside the keyring that the master key wraps (backup repositories hold their own
 * wrapped keys so that they restore without the store): re-wrapped on master-key rotation. */
export type MasterKeyHolder = {
  name: string
  /** Re-wraps under the active master key; idempotent. `complete` false: something still needs
   * an older key. */
  rewrap(): Promise<{ complete: boolean; detail: unknown }>
}

export type MasterKeyRotation = {
  rewrappedDataKeys: number[]
  /** Per holder, what its rewrap did. */
  holders: Record<string, unknown>
  /** False when anything still needs the old key: keep PGA_MASTER_KEY_PREVIOUS. */
  complete: boolean
}

export class KeyService {
  private ring: Keyring | undefined
  private timer: ReturnType<typeof setInterval> | undefined
  private running: Promise<unknown> | undefined
  private kickAgain = false
  private stopped = false
  private readonly holders: MasterKeyHolder[] = []

  constructor(
    private readonly deps: {
      db: Database
      state: StateStore
      log: Logger
      kek: KeyEncryptionKey
      previousKek?: KeyEncryptionKey
      /** This replica, as lease holder. */
      holder: string
      options?: KeyServiceOptions
    },
  ) {}

  /** Opens the keyring (creating the first data key on a new store). Needs the migrated schema. */
  async start(options: { maintenance: boolean }): Promise<void> {
    const { db, kek, previousKek, log } = this.deps
    this.ring = await Keyring.open({
      db,
      kek,
      log,
      options: this.deps.options ?? {},
      ...(previousKek ? { previousKek } : {}),
    })
    log.info('keyring ready', { activeVersion: this.ring.activeVersion(), kekId: kek.id })
    if (options.maintenance) {
      this.timer = setInterval(() => this.kick(), this.deps.options?.maintenanceIntervalMs ?? 30_000)
      this.timer.unref?.()
      this.kick()
    }
  }

  /** The master keys, the active one first (backups wrap their keys with it directly, so a
   * repository and the master key are enough to restore). */
  masterKeys(): KeyEncryptionKey[] {
    return this.deps.previousKek ? [this.deps.kek, this.deps.previousKek] : [this.deps.kek]
  }

  keyring(): Keyring {
    if (!this.ring) throw new UnavailableError('keyring_not_ready', 'The keyring is not open yet.', 1)
    return this.ring
  }

  async report(): Promise<KeyringReport> {
    const ring = this.keyring()
    await ring.reload()
    const run = await currentRewrapRun(this.deps.db.sql)
    // Every pass touches its run (each batch, and each maintenance tick while keys settle), so a
    // running run left alone for three ticks has nobody working on it.
    const stallAfterMs = 3 * (this.deps.options?.maintenanceIntervalMs ?? 30_000)
    const stalled = run?.state === 'running' && Date.now() - run.updatedAt.getTime() > stallAfterMs
    return {
      activeVersion: ring.activeVersion(),
      keys: await ring.status(),
      rewrap: run && { ...run, stalled },
    }
  }

  /** New active data key; older values move in the background. Returns the new version. */
  async rotate(reason: string, audit: AuditContext): Promise<number> {
    const version = await this.keyring().rotate(reason, undefined, (tx, next) =>
      recordAuditEvent(tx, audit, {
        eventType: 'keys.data_key_rotated',
        resourceType: 'data_key',
        resourceId: String(next),
        action: 'execute',
        changes: { reason, activeVersion: next },
      }),
    )
    this.kick()
    return version
  }

  /** One rewrap pass in the foreground (the CLI's `keys rewrap`). */
  rewrap(
    options: { onProgress?: (p: { done: number; total: number }) => void; batchSize?: number } = {},
  ): Promise<RewrapOutcome> {
    const { db, state, log, holder } = this.deps
    return rewrapStaleValues({
      db,
      state,
      log,
      holder,
      keyring: this.keyring(),
      batchSize: options.batchSize ?? this.deps.options?.batchSize ?? 500,
      ...(this.deps.options?.settleMs !== undefined ? { settleMs: this.deps.options.settleMs } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    })
  }

  /** Registers what else the master key wraps, for rotateMasterKey. */
  addMasterKeyHolder(holder: MasterKeyHolder): void {
    this.holders.push(holder)
  }

  /** Re-wraps the data keys, then what every holder keeps, under the active master key. Safe to
   * run again: what is already under it stays as it is. */
  async rotateMasterKey(): Promise<MasterKeyRotation> {
    const rewrappedDataKeys = await this.keyring().rotateMasterKey()
    const holders: Record<string, unknown> = {}
    let complete = true
    for (const holder of this.holders) {
      const outcome = await holder.rewrap()
      holders[holder.name] = outcome.detail
      complete &&= outcome.complete
    }
    if (!complete)
      this.deps.log.error('master key rotation incomplete: keep the old key as PGA_MASTER_KEY_PREVIOUS', {
        holders,
      })
    return { rewrappedDataKeys, holders, complete }
  }

  /** Starts a background rewrap pass; while one runs in this process, queues one more after it
   * (a rotation during a pass must not wait for the next maintenance tick). */
  kick(): void {
    if (!this.ring || this.stopped) return
    if (this.running) {
      this.kickAgain = true
      return
    }
    this.running = this.rewrap()
      .catch((error) => this.deps.log.warn('background rewrap failed; will retry', { error }))
      .finally(() => {
        this.running = undefined
        if (this.kickAgain) {
          this.kickAgain = false
          this.kick()
        }
      })
  }

  async stop(): Promise<void> {
    this.stopped = true
    clearInterval(this.timer)
    while (this.running) await this.running
  }
}
