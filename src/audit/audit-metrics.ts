// The audit sealer's backlog on /metrics, read at scrape time: events waiting in the outbox and
// the age of the oldest. A sealer that stopped (no replica holds its lease, or sealing fails)
// shows as a growing age; the alert PgaAuditSealerLagging watches it.
import type { Db } from '../platform/db/database.ts'
import type { MetricsRegistry } from '../platform/metrics/registry.ts'

export function registerAuditMetrics(registry: MetricsRegistry, db: Db): void {
  let pending: Promise<{ events: number; oldest: number }> | undefined
  // Both gauges come from one query per scrape.
  const read = () => {
    pending ??= db<{ events: number; oldest: number }[]>`
      select count(*)::int as events, coalesce(extract(epoch from now() - min(created_at)), 0)::float8 as oldest
        from audit_outbox`
      .then(([row]) => row ?? { events: 0, oldest: 0 })
      .finally(() => {
        pending = undefined
      })
    return pending
  }
  const sample = async (pick: (r: { events: number; oldest: number }) => number) => {
    try {
      return [{ labels: {}, value: pick(await read()) }]
    } catch {
      return [] // store down: pga_dependency_up says so
    }
  }
  registry.gauge('pga_audit_outbox_events', 'Audit events recorded but not sealed into the chain yet.', () =>
    sample((r) => r.events),
  )
  registry.gauge(
    'pga_audit_outbox_oldest_seconds',
    'Age of the oldest audit event not sealed yet (0 when none).',
    () => sample((r) => r.oldest),
  )
}
