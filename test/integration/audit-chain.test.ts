// The hash chain and signed checkpoints over a real PostgreSQL: events written in the outbox are
// sealed in order, verification passes, the tables refuse changes, and every kind of tampering
// done behind the triggers' back (as a superuser) is detected, naming the entry or checkpoint.
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { checkpointPayload } from '../../src/audit/chain.ts'
import { FileCheckpointSink } from '../../src/audit/checkpoint-sink.ts'
import { type AuditContext, recordAuditEvent } from '../../src/audit/events.ts'
import { type Checkpoint, sealBatch } from '../../src/audit/sealer.ts'
import { loadSigningKey, publicKeys, verifySignature } from '../../src/audit/signing-key.ts'
import { verifyTrail } from '../../src/audit/verify.ts'
import { type Tx, withTransaction } from '../../src/platform/db/database.ts'
import { tempDir } from '../harness/processes.ts'
import { startTestApp, type TestApp } from '../support/app.ts'

let t: TestApp
const ctx: AuditContext = {
  actor: { type: 'admin_token', id: 'test' },
  requestId: 'r-1',
  ip: '127.0.0.1',
  userAgent: 'vitest',
}

beforeAll(async () => {
  t = await startTestApp()
  const db = t.deps.db.sql
  const key = await loadSigningKey(db, t.deps.keys.keyring())
  // 3 batches: 40, 40, 20 entries.
  const treeSizes: number[] = []
  for (let batch = 0; batch < 3; batch++) {
    for (let i = 0; i < (batch < 2 ? 40 : 20); i++) {
      await withTransaction(db, (tx) =>
        recordAuditEvent(tx, ctx, {
          eventType: 'instance.updated',
          resourceType: 'instance',
          resourceId: `i-${batch}-${i}`,
          action: 'update',
          changes: { name: `n${i}`, password: 'hunter2', nested: { apiKey: 'k', ok: 1 } },
        }),
      )
    }
    const checkpoint = (await sealBatch(db, key, 40)) ?? expect.fail(`batch ${batch} sealed nothing`)
    expect(checkpoint.checkpoint_hash).toMatch(/^[0-9a-f]{64}$/)
    treeSizes.push(checkpoint.tree_size)
  }
  // Each checkpoint covers the chain so far: it grew by the sealed batch each time.
  expect([
    (treeSizes[1] as number) - (treeSizes[0] as number),
    (treeSizes[2] as number) - (treeSizes[1] as number),
  ]).toEqual([40, 20])
})
afterAll(async () => {
  await t?.close()
})

/** Runs a tampering inside a rolled-back transaction, with triggers off as a superuser could. */
async function tampered(change: (tx: Tx) => Promise<unknown>, exported?: Checkpoint | null) {
  let result: Awaited<ReturnType<typeof verifyTrail>> | undefined
  await withTransaction(t.deps.db.sql, async (tx) => {
    await tx`set local session_replication_role = replica`
    await change(tx)
    result = await verifyTrail(tx, {}, exported)
    throw new Error('rollback')
  }).catch((error) => {
    if ((error as Error).message !== 'rollback') throw error
  })
  return result as Awaited<ReturnType<typeof verifyTrail>>
}

describe('audit chain', () => {
  it('seals the outbox in order into one chain with a signed checkpoint per batch, secrets redacted', async () => {
    const db = t.deps.db.sql
    const result = await verifyTrail(db)
    expect(result).toMatchObject({ valid: true, checkedEntries: 100, checkedCheckpoints: 3, problem: null })
    const [row] = await db<
      { changes: Record<string, unknown> }[]
    >`select changes from audit_logs where id = 1`
    expect(row?.changes).toEqual({
      name: 'n0',
      password: '[redacted]',
      nested: { apiKey: '[redacted]', ok: 1 },
    })
    const [outbox] = await db<{ n: number }[]>`select count(*)::int as n from audit_outbox`
    expect(outbox?.n).toBe(0)
    // An outside verifier needs only the published key.
    const [key] = await publicKeys(db)
    const [cp] = await db<{ signature: string; created_at: Date; tree_size: number }[]>`
      select tree_size::int, root_hash, previous_checkpoint_hash, key_id, created_at, signature
        from audit_log_verification order by tree_size limit 1`
    if (!cp || !key) throw new Error('no checkpoint or key')
    const { signature, ...rest } = cp
    const body = { ...rest, created_at: cp.created_at.toISOString() } as unknown as Parameters<
      typeof checkpointPayload
    >[0]
    expect(await verifySignature(key.publicKeySpki, checkpointPayload(body), signature)).toBe(true)
    expect(
      await verifySignature(key.publicKeySpki, checkpointPayload({ ...body, tree_size: 41 }), signature),
    ).toBe(false)
  })

  it('refuses UPDATE, DELETE and TRUNCATE on the sealed tables', async () => {
    const db = t.deps.db.sql
    for (const statement of [
      `update audit_logs set action = 'x' where id = 1`,
      'delete from audit_logs where id = 1',
      'truncate audit_logs',
      `update audit_log_verification set root_hash = 'x'`,
      'delete from audit_log_verification',
      'truncate audit_log_verification',
      'truncate audit_log_verification cascade',
    ]) {
      const error = await db.unsafe(statement).catch((e) => e)
      // A plain TRUNCATE of the checkpoints stops earlier, at audit_logs_archive's foreign key.
      expect(String(error.message), statement).toMatch(/append-only|referenced in a foreign key constraint/)
    }
    expect((await verifyTrail(db)).valid).toBe(true)
  })

  it('detects an edited field', async () => {
    const result = await tampered((tx) => tx`update audit_logs set resource_id = 'forged' where id = 57`)
    expect(result.problem).toMatchObject({ entryId: 57, reason: expect.stringContaining('altered') })
  })

  it('detects a deleted entry', async () => {
    const result = await tampered((tx) => tx`delete from audit_logs where id = 23`)
    expect(result.problem).toMatchObject({ entryId: 23, reason: 'entry 23 is missing' })
  })

  it('detects two entries swapped', async () => {
    const result = await tampered(async (tx) => {
      await tx`update audit_logs set id = 1000000 where id = 10`
      await tx`update audit_logs set id = 10 where id = 11`
      await tx`update audit_logs set id = 11 where id = 1000000`
    })
    expect(result.problem?.entryId).toBe(10)
  })

  it('detects a truncated tail', async () => {
    const result = await tampered((tx) => tx`delete from audit_logs where id > 90`)
    expect(result.problem).toMatchObject({ entryId: 91, reason: expect.stringContaining('truncated') })
  })

  it('detects a forged entry appended with a correct chain hash', async () => {
    const result = await tampered(async (tx) => {
      const { contentHash } = await import('../../src/audit/chain.ts')
      const [last] = await tx<{ content_hash: string }[]>`select content_hash from audit_logs where id = 100`
      const entry = {
        id: 101,
        event_id: crypto.randomUUID(),
        event_type: 'forged',
        resource_type: 'x',
        resource_id: null,
        action: 'delete',
        outcome: 'success',
        actor_type: 'system',
        actor_id: null,
        session_id: null,
        request_id: null,
        ip_address: null,
        user_agent: null,
        changes: {},
        old_values: null,
        new_values: null,
        created_at: new Date().toISOString(),
        sealed_at: new Date().toISOString(),
        previous_hash: last?.content_hash as string,
      }
      await tx`insert into audit_logs ${tx({ ...entry, changes: tx.json({}), content_hash: contentHash(entry) } as never)}`
    })
    expect(result.problem).toMatchObject({
      entryId: 101,
      reason: expect.stringContaining('not covered by any signed checkpoint'),
    })
  })

  it('detects a forged checkpoint signature and a checkpoint whose root does not match', async () => {
    const forged = await tampered(
      (tx) =>
        tx`update audit_log_verification set signature = ${Buffer.alloc(384, 7).toString('base64url')} where tree_size = 80`,
    )
    expect(forged.problem).toMatchObject({
      checkpointTreeSize: 80,
      reason: 'checkpoint 80: its signature is not valid',
    })
    const rooted = await tampered(
      (tx) => tx`update audit_log_verification set root_hash = ${'ab'.repeat(32)} where tree_size = 40`,
    )
    expect(rooted.problem).toMatchObject({
      checkpointTreeSize: 40,
      reason: expect.stringContaining('Merkle root'),
    })
  })

  it('detects a rollback of the whole database to an older consistent state through the exported checkpoint', async () => {
    const sink = new FileCheckpointSink(join(tempDir('audit-export'), 'checkpoints'))
    const [latest] = await t.deps.db.sql<Checkpoint[]>`
      select tree_size::int, root_hash, frontier, previous_checkpoint_hash, checkpoint_hash, signature, key_id,
             created_at from audit_log_verification order by tree_size desc limit 1`
    await sink.write(latest as Checkpoint)
    const rollback = (tx: Tx) =>
      Promise.all([
        tx`delete from audit_logs where id > 80`,
        tx`delete from audit_log_verification where tree_size > 80`,
      ])
    // On its own the older state is consistent: every hash, link and signature checks out...
    expect((await tampered(rollback)).valid).toBe(true)
    // ...but not against the checkpoint exported before the rollback.
    const caught = await tampered(rollback, await sink.latest())
    expect(caught.problem).toMatchObject({
      checkpointTreeSize: 100,
      reason: expect.stringContaining('rolled back'),
    })
    expect((await verifyTrail(t.deps.db.sql, {}, await sink.latest())).valid).toBe(true)
  })

  it('verifies a range starting from the checkpoint before it', async () => {
    const result = await verifyTrail(t.deps.db.sql, { fromId: 50, toId: 60 })
    expect(result).toMatchObject({ valid: true, firstEntry: 41, lastEntry: 80, checkedCheckpoints: 1 })
  })
})
