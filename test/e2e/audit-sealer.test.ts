// The sealer as it runs in production: two replicas of the binary share a store and Redis and only
// the lease holder seals; killed with SIGKILL in the middle of sealing a backlog, the survivor (or
// a restart) finishes it with every event sealed exactly once and the trail still valid.
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { verifyTrail } from '../../src/audit/verify.ts'
import { createTestDatabase } from '../harness/postgres.ts'
import { tempDir } from '../harness/processes.ts'
import { testMasterKey } from '../support/master-key.ts'
import { binaryInEmptyDir, type ServiceProcess, startService } from '../support/service-process.ts'
import { until } from '../support/until.ts'

const events = 40_000
let binary: string
let store: postgres.Sql
let env: Record<string, string>
const services: ServiceProcess[] = []

beforeAll(async () => {
  binary = await binaryInEmptyDir('audit-sealer')
  const url = await createTestDatabase(inject('pgUrl'))
  store = postgres(url, { max: 2, onnotice: () => {} })
  env = {
    DATABASE_URL: url,
    REDIS_URL: inject('redisUrl'),
    PGA_REDIS_KEY_PREFIX: `seal${Math.random().toString(36).slice(2, 8)}:`,
    PGA_MASTER_KEY: testMasterKey,
    PGA_COLLECTOR_ENABLED: 'false',
    PGA_AUDIT_CHECKPOINT_DIR: tempDir('audit-checkpoints'),
  }
}, 180_000)
afterAll(async () => {
  for (const service of services) await service.stop()
  await store?.end()
})

const count = async (table: 'audit_logs' | 'audit_outbox') =>
  (await store.unsafe<{ n: number }[]>(`select count(*)::int as n from ${table}`))[0]?.n ?? 0

describe('audit sealer across replicas and crashes', () => {
  it('seals a backlog exactly once through a SIGKILL of the sealing replica', async () => {
    for (let i = 0; i < 2; i++)
      services.push(await startService({ command: binary, cwd: tempDir('seal-cwd'), env }))
    // A backlog written straight into the outbox, as services would have.
    await store`
      insert into audit_outbox (event)
      select jsonb_build_object('eventId', gen_random_uuid(), 'eventType', 'test.bulk', 'resourceType', 'test',
               'resourceId', g::text, 'action', 'execute', 'outcome', 'success', 'actorType', 'system', 'actorId', 'e2e',
               'sessionId', null, 'requestId', null, 'ipAddress', null, 'userAgent', null, 'changes', jsonb_build_object('n', g),
               'oldValues', null, 'newValues', null,
               'createdAt', to_char(now() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
        from generate_series(1, ${events}) g`
    // Kill whichever replica is sealing once it is part-way through.
    await until('sealing to be part-way through', async () => (await count('audit_logs')) >= events / 8, {
      timeoutMs: 60_000,
      intervalMs: 20,
    })
    const sealers = services.filter((s) => s.lines.some((l) => l.includes('"msg":"audit sealer active"')))
    expect(sealers, 'exactly one replica holds the sealer lease').toHaveLength(1)
    await (sealers[0] as ServiceProcess).stop('SIGKILL')
    expect(await count('audit_outbox')).toBeGreaterThan(0)
    // The other replica takes the lease when it expires and finishes the backlog.
    await until('the survivor to empty the outbox', async () => (await count('audit_outbox')) === 0, {
      timeoutMs: 90_000,
      intervalMs: 200,
      explain: async () =>
        `${await count('audit_outbox')} events left in the outbox; state ${JSON.stringify(await store`select (select max(id) from audit_logs) as max_id, (select count(*) from audit_logs) as n, (select max(tree_size) from audit_log_verification) as max_tree, (select count(*) from audit_log_verification) as checkpoints`)}; survivor log: ${services
          .filter((s) => s !== sealers[0])
          .flatMap((s) => s.lines.filter((l) => !l.includes('"level":"debug"')).slice(-15))
          .join('\n')}`,
    })
    expect(await count('audit_logs')).toBe(events)
    const [distinct] = await store<{ n: number }[]>`select count(distinct event_id)::int as n from audit_logs`
    expect(distinct?.n).toBe(events)
    const result = await verifyTrail(store)
    expect(result).toMatchObject({ valid: true, checkedEntries: events, problem: null })
  }, 240_000)
})
