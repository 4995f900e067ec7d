// Replicas cache who may do what for PGA_AUTH_USER_CACHE (a user's role and status, API keys). A
// change that takes access away bumps one shared counter in the state store: the replica making
// it forgets its caches at once, every other replica within a second (it polls the counter), so
// a disabled user's API key stops working everywhere without waiting for the cache to expire.
import type { Logger } from '../platform/log.ts'
import type { StateStore } from '../platform/state/state-store.ts'

const epochKey = 'auth:cache-epoch'

export class AuthCacheEpoch {
  private seen: string | null | undefined
  private timer: NodeJS.Timeout | undefined

  constructor(
    private readonly state: StateStore,
    private readonly forget: () => void,
    private readonly log: Logger,
  ) {}

  start(intervalMs = 1000): void {
    // A store only this process sees (memory) has no other replica to hear from: bump() forgets
    // here, and polling would only wake the process every second.
    if (!this.state.shared) return
    this.timer = setInterval(() => void this.check(), intervalMs)
    this.timer.unref?.()
    void this.check()
  }

  /** Forgets the caches when another replica bumped the counter since the last look. */
  async check(): Promise<void> {
    try {
      const now = await this.state.get(epochKey)
      if (this.seen !== undefined && now !== this.seen) this.forget()
      this.seen = now
    } catch (error) {
      this.log.debug('auth cache epoch unreadable', { error: String(error) })
    }
  }

  /** After a change that takes access away: here at once, elsewhere within a poll. */
  async bump(): Promise<void> {
    this.forget()
    await this.state.increment(epochKey, { ttlMs: 30 * 24 * 3600_000 })
  }

  stop(): void {
    clearInterval(this.timer)
  }
}
