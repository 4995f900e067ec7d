// The schedule of LDAP directory syncs (src/auth/sso/ldap-sync.ts). Every replica builds it at
// start-up; the sync code, with the providers, their settings schemas and LDAP client, is imported
// the first time a provider is due, so a replica without LDAP never evaluates it.
import { ConflictError } from '../../http/errors.ts'
import type { Logger } from '../../platform/log.ts'
import * as repo from './repo.ts'
import type { SsoContext, SyncReport } from './types.ts'

/** Runs the syncs that are due, one provider after another; every minute when started. */
export class DirectorySyncScheduler {
  private timer: ReturnType<typeof setInterval> | undefined
  private running: Promise<unknown> | undefined

  constructor(
    private readonly deps: { context: () => SsoContext; holder: string; log: Logger; intervalMs?: number },
  ) {}

  start(): void {
    this.timer ??= setInterval(() => {
      this.running ??= this.runDue().finally(() => {
        this.running = undefined
      })
    }, this.deps.intervalMs ?? 60_000)
    this.timer.unref?.()
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
    await this.running
  }

  /** Syncs every provider whose interval has passed; returns their reports. */
  async runDue(): Promise<Record<string, SyncReport>> {
    const ctx = this.deps.context()
    const reports: Record<string, SyncReport> = {}
    const due = await repo.providersDueForSync(ctx.db).catch(() => [])
    if (due.length === 0) return reports
    const { syncDirectory } = await import('./ldap-sync.ts')
    for (const provider of due) {
      try {
        reports[provider.name] = await syncDirectory(ctx, provider.name, this.deps.holder)
        if (reports[provider.name]?.status !== 'ok')
          this.deps.log.warn('directory sync changed nothing', {
            provider: provider.name,
            ...reports[provider.name],
          })
      } catch (error) {
        if (!(error instanceof ConflictError))
          this.deps.log.error('directory sync failed', { provider: provider.name, error: String(error) })
      }
    }
    return reports
  }
}
