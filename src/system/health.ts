// Dependency checks behind /readyz and /api/v1/health: the store and the state store, each
// with a bounded wait so a hung dependency reports "down" instead of hanging the probe.
import type { Database } from '../platform/db/database.ts'
import type { StateStore } from '../platform/state/state-store.ts'

export type CheckResult = { status: 'up' | 'down'; kind: string; latencyMs?: number; error?: string }
export type HealthReport = { status: 'ok' | 'down'; checks: { store: CheckResult; state: CheckResult } }

async function timed(kind: string, ping: () => Promise<number>, timeoutMs: number): Promise<CheckResult> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)
  })
  try {
    const latencyMs = await Promise.race([ping(), timeout])
    return { status: 'up', kind, latencyMs: Math.round(latencyMs * 100) / 100 }
  } catch (error) {
    // Only the error's class of failure goes out: driver messages can carry host names.
    return { status: 'down', kind, error: describeFailure(error) }
  } finally {
    clearTimeout(timer)
  }
}

function describeFailure(error: unknown): string {
  const code = (error as { code?: unknown }).code
  const message = (error as Error).message ?? ''
  if (message.startsWith('no answer within')) return message
  return typeof code === 'string' ? `unreachable (${code})` : 'unreachable'
}

/** Pings both stores in parallel. */
export async function checkHealth(
  deps: { db: Database; state: StateStore },
  timeoutMs = 2000,
): Promise<HealthReport> {
  const [store, state] = await Promise.all([
    timed(deps.db.kind, () => deps.db.ping(), timeoutMs),
    timed(deps.state.kind, () => deps.state.ping(), timeoutMs),
  ])
  return { status: store.status === 'up' && state.status === 'up' ? 'ok' : 'down', checks: { store, state } }
}
