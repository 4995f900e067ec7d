// POST /api/v1/agent/metrics and agent keys: a key bound to one instance; a batch stored once (also
// twice at the same moment), a replayed day without a partition, samples past the retention
// skipped; a wrong, revoked, unbound or other instance's key and bad rows refused; the host
// tables match the catalog, are partitioned and readable by the Grafana role.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { systemGroups } from '../../src/collector/catalog/index.ts'
import {
  type AgentFixture,
  agentBatch,
  startAgentFixture,
  agentToken as token,
} from '../support/agent-fixture.ts'

let f: AgentFixture
beforeAll(async () => {
  f = await startAgentFixture()
})
afterAll(async () => {
  await f?.t.close()
})
const batch = (sequence: number, agentId: string, takenAt = new Date(), instance?: string) =>
  agentBatch(instance ?? f.instanceId, sequence, agentId, takenAt)

describe('agent keys', () => {
  it('bind to one instance, and refuse what does not fit', async () => {
    const listed = await f.call('GET', '/api/v1/api-keys')
    expect(listed.body.items.find((k: { id: string }) => k.id === f.agentKeyId)).toMatchObject({
      role: 'agent',
      instanceId: f.instanceId,
    })
    const cases: [Record<string, unknown>, number, string][] = [
      [{ role: 'agent' }, 400, 'agent_key_needs_instance'],
      [{ role: 'viewer', instanceId: f.instanceId }, 400, 'instance_binding_agent_only'],
      [{ role: 'agent', instanceId: crypto.randomUUID() }, 404, 'not_found'],
    ]
    for (const [body, status, code] of cases) {
      const res = await f.createKey(body)
      expect([res.status, res.body.code], JSON.stringify(body)).toEqual([status, code])
    }
    const viewer = await f.createKey({ role: 'viewer' })
    const fromViewer = await f.createKey({ role: 'agent', instanceId: f.instanceId }, viewer.body.key)
    expect([fromViewer.status, fromViewer.body.code]).toEqual([403, 'role_exceeds_own'])
  })
})

describe('POST /api/v1/agent/metrics', () => {
  it('stores a batch once, also when it arrives twice at the same moment', async () => {
    const agentId = crypto.randomUUID()
    const first = await f.call('POST', '/api/v1/agent/metrics', batch(1, agentId), f.agentKey)
    expect(first.body).toMatchObject({ status: 'stored', samples: 1, rows: 1, batchId: `${agentId}:1` })
    const again = await f.call('POST', '/api/v1/agent/metrics', batch(1, agentId), f.agentKey)
    expect(again.body).toMatchObject({ status: 'duplicate', rows: 0 })
    const body = batch(2, agentId)
    const both = await Promise.all(
      [1, 2].map(() => f.call('POST', '/api/v1/agent/metrics', body, f.agentKey)),
    )
    expect(both.map((r) => r.body.status).sort()).toEqual(['duplicate', 'stored'])
    const [row] = await f.t.deps.db.sql<{ n: number }[]>`
      select count(*)::int as n from sn_stat_snapshot where instance_id = ${f.instanceId} and replica = 'agent@test-host'`
    expect(row?.n).toBe(2)
  })

  it('stores a replayed day without a partition, and skips samples older than the retention', async () => {
    const agentId = crypto.randomUUID()
    const fourDaysAgo = new Date(Date.now() - 4 * 86_400_000)
    const res = await f.call('POST', '/api/v1/agent/metrics', batch(1, agentId, fourDaysAgo), f.agentKey)
    expect(res.body).toMatchObject({ status: 'stored', rows: 1 })
    const ancient = await f.call(
      'POST',
      '/api/v1/agent/metrics',
      batch(2, agentId, new Date(Date.now() - 40 * 86_400_000)),
      f.agentKey,
    )
    expect(ancient.body).toMatchObject({ status: 'stored', rows: 0, skipped: 1 })
  })

  it('refuses a wrong or revoked key, an unbound key, a batch for another instance and bad rows', async () => {
    const agentId = crypto.randomUUID()
    const cases: [string, unknown, number, string][] = [
      ['pgak_0123456789ABCDEFGHIJKLMNOPQRSTUV', batch(1, agentId), 401, 'invalid_token'],
      [token, batch(1, agentId), 403, 'agent_key_required'],
      [f.agentKey, batch(1, agentId, new Date(), f.otherInstanceId), 403, 'agent_instance_mismatch'],
      [
        f.agentKey,
        { ...batch(1, agentId), samples: [{ takenAt: new Date().toISOString(), groups: { nope: [] } }] },
        400,
        'validation_failed',
      ],
      [
        f.agentKey,
        {
          ...batch(1, agentId),
          samples: [{ takenAt: new Date().toISOString(), groups: { system_load: [{ cpus: 'two' }] } }],
        },
        400,
        'validation_failed',
      ],
      [
        f.agentKey,
        {
          ...batch(1, agentId),
          samples: [batch(1, agentId).samples[0], batch(1, agentId, new Date(0)).samples[0]],
        },
        400,
        'validation_failed',
      ],
    ]
    for (const [bearer, body, status, code] of cases) {
      const res = await f.call('POST', '/api/v1/agent/metrics', body, bearer)
      expect([res.status, res.body.code]).toEqual([status, code])
    }
    const viewer = await f.createKey({ role: 'viewer' })
    const byViewer = await f.call('POST', '/api/v1/agent/metrics', batch(1, agentId), viewer.body.key)
    expect([byViewer.status, byViewer.body.code]).toEqual([403, 'permission_denied'])
    // A push for another instance is a security event in the audit trail.
    const [denied] = await f.t.deps.db.sql<{ permission: string }[]>`
      select event->'changes'->>'permission' as permission from audit_outbox
       where event->>'eventType' = 'auth.access_denied' and event->>'actorId' = ${f.agentKeyId}`
    expect(denied?.permission).toBe('agent:push')
    // Nothing of these reached the store.
    const [row] = await f.t.deps.db.sql<{ n: number }[]>`
      select count(*)::int as n from pga_agent_streams where agent_id = ${agentId}`
    expect(row?.n).toBe(0)

    const revoked = await f.createKey({ role: 'agent', instanceId: f.instanceId })
    expect((await f.call('DELETE', `/api/v1/api-keys/${revoked.body.id}`)).status).toBe(204)
    const late = await f.call('POST', '/api/v1/agent/metrics', batch(1, agentId), revoked.body.key)
    expect([late.status, late.body.code]).toEqual([401, 'invalid_token'])
  })

  it('host tables have exactly the catalog columns and types', async () => {
    for (const group of systemGroups) {
      const rows = await f.t.deps.db.sql<{ name: string; type: string }[]>`
        select a.attname::text as name, format_type(a.atttypid, a.atttypmod) as type
          from pg_attribute a where a.attrelid = ${group.table}::regclass and a.attnum > 0 and not a.attisdropped
         order by a.attnum`
      expect(rows, group.table).toEqual([
        { name: 'snap_id', type: 'bigint' },
        { name: 'instance_id', type: 'uuid' },
        { name: 'taken_at', type: 'timestamp with time zone' },
        ...group.columns.map((c) => ({ name: c.name, type: c.type })),
      ])
    }
  })

  it('host tables are partitioned, kept for their retention and readable by the Grafana role', async () => {
    const { created } = await f.t.deps.collector.maintainPartitions(Date.now() + 10 * 86_400_000)
    expect(created).toBeGreaterThan(0)
    for (const group of systemGroups) {
      const [row] = await f.t.deps.db.sql<{ partitions: number; grafana: boolean }[]>`
        select (select count(*)::int from pg_inherits i join pg_class p on p.oid = i.inhparent
                 where p.relname = ${group.table}) as partitions,
               has_table_privilege('pganalytics_grafana', ${group.table}, 'select') as grafana`
      expect(row, group.table).toMatchObject({ grafana: true })
      expect(row?.partitions, group.table).toBeGreaterThan(0)
    }
  })

  it('deleting the instance deletes its agent keys', async () => {
    const id = await f.createInstance('short-lived')
    const key = await f.createKey({ role: 'agent', instanceId: id })
    expect((await f.call('DELETE', `/api/v1/instances/${id}`)).status).toBe(204)
    f.t.deps.auth.apiKeys.forget()
    const res = await f.call(
      'POST',
      '/api/v1/agent/metrics',
      batch(1, crypto.randomUUID(), new Date(), id),
      key.body.key,
    )
    expect([res.status, res.body.code]).toEqual([401, 'invalid_token'])
  })
})
