// The sealer backs off while the outbox stays empty (one cheap probe per poll instead of the
// sealing transaction) and still seals an event that arrives during the back-off.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { type AuditContext, recordAuditEvent } from '../../src/audit/events.ts'
import { AuditSealer } from '../../src/audit/sealer.ts'
import { startTestApp, type TestApp } from '../support/app.ts'
import { pause, until } from '../support/until.ts'

let t: TestApp
let sealer: AuditSealer
const ctx: AuditContext = { actor: { type: 'admin_token', id: 'test' }, requestId: 'r-idle' }

beforeAll(async () => {
  t = await startTestApp()
  sealer = new AuditSealer({
    db: t.deps.db.sql,
    state: t.deps.state,
    keyring: () => t.deps.keys.keyring(),
    log: t.deps.log,
    holder: 'idle-test',
    idleMs: 5,
    maxIdleMs: 40,
  })
  sealer.start()
})

afterAll(async () => {
  await sealer?.stop()
  await t?.close()
})

const outboxSize = async () =>
  (await t.deps.db.sql<{ n: number }[]>`select count(*)::int as n from audit_outbox`)[0]?.n

it('seals an event written after the outbox has been empty for a while', async () => {
  await until('the outbox emptied', async () => (await outboxSize()) === 0)
  // Pacing only: several empty polls, so the sealer is in its longest wait (40 ms).
  await pause(300)
  await recordAuditEvent(t.deps.db.sql, ctx, {
    eventType: 'instance.updated',
    resourceType: 'instance',
    resourceId: 'idle-1',
    action: 'update',
  })
  const [sealed] = await until('the event sealed', async () => {
    const rows = await t.deps.db.sql<{ id: string }[]>`
      select id::text from audit_logs where resource_id = 'idle-1'`
    return rows.length > 0 && rows
  })
  expect(sealed?.id).toBeDefined()
  expect(await outboxSize()).toBe(0)
})
