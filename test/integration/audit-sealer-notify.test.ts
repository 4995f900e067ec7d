// The sealer wakes on the outbox's notification (migration 0022): with an idle poll of a minute,
// an event committed by another connection (another replica's write) is still sealed at once, and
// verification stays consistent while batches land beside it.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { type AuditContext, recordAuditEvent } from '../../src/audit/events.ts'
import { AuditSealer } from '../../src/audit/sealer.ts'
import { verifyTrail } from '../../src/audit/verify.ts'
import { withTransaction } from '../../src/platform/db/database.ts'
import { startTestApp, type TestApp } from '../support/app.ts'
import { until } from '../support/until.ts'

let t: TestApp
let sealer: AuditSealer
const ctx: AuditContext = { actor: { type: 'admin_token', id: 'test' }, requestId: 'r-notify' }

beforeAll(async () => {
  t = await startTestApp()
  sealer = new AuditSealer({
    db: t.deps.db.sql,
    state: t.deps.state,
    keyring: () => t.deps.keys.keyring(),
    log: t.deps.log,
    holder: 'notify-test',
    // Longer than any deadline below: only a notification can make it seal in time.
    idleMs: 120_000,
    maxIdleMs: 120_000,
    listen: true,
  })
  sealer.start()
})

afterAll(async () => {
  await sealer?.stop()
  await t?.close()
})

const sealedCount = async (resourceId: string) =>
  (
    await t.deps.db.sql<{ n: number }[]>`
      select count(*)::int as n from audit_logs where resource_id = ${resourceId}`
  )[0]?.n

it('seals an event committed on another connection without waiting for the idle poll', async () => {
  // The sealer is idle (its first batch found the outbox empty) and listening.
  await until('the sealer listening', async () => {
    const rows = await t.deps.db.sql`
      select 1 from pg_stat_activity where datname = current_database() and query ilike 'listen%pga_audit_outbox%'`
    return rows.length > 0
  })
  // In a transaction, on a pool connection: the notification is delivered at commit, to the
  // sealer's own listening connection, as for an event another replica writes.
  await withTransaction(t.deps.db.sql, async (tx) => {
    await recordAuditEvent(tx, ctx, {
      eventType: 'instance.updated',
      resourceType: 'instance',
      resourceId: 'notify-1',
      action: 'update',
    })
  })
  await until('the event sealed', async () => (await sealedCount('notify-1')) === 1, { timeoutMs: 30_000 })
})

it('verifies the trail as valid while the sealer seals beside it (one snapshot per verification)', async () => {
  // Sealing at once on each commit makes a batch land between a verification's reads of the
  // checkpoints and of the entries; read apart, those entries looked uncovered by any checkpoint.
  let writing = true
  const writer = (async () => {
    for (let i = 0; writing && i < 400; i++)
      await recordAuditEvent(t.deps.db.sql, ctx, {
        eventType: 'instance.updated',
        resourceType: 'instance',
        resourceId: `concurrent-${i}`,
        action: 'update',
      })
  })()
  try {
    for (let i = 0; i < 60; i++) {
      const result = await verifyTrail(t.deps.db.sql)
      expect(result.problem).toBeNull()
      expect(result.valid).toBe(true)
    }
  } finally {
    writing = false
    await writer
  }
})
