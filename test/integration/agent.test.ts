// The host agent against a running service: `pganalytics agent --once` (the CLI, under Bun) reads
// this machine's real /proc and pushes over HTTP; the rows come back through the read API and the
// exposition. An outage is buffered on disk and replayed in order with no loss and no duplicate;
// a wrong, revoked or unbound key and a batch for another instance are refused.
import { spawn } from 'node:child_process'
import { mkdirSync, readdirSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { systemGroups } from '../../src/collector/catalog/index.ts'
import { nodeRuntime } from '../../src/runtime/node.ts'
import type { HttpServer } from '../../src/runtime/runtime.ts'
import { freePort, tempDir } from '../harness/processes.ts'
import { startTestApp, type TestApp } from '../support/app.ts'
import { bunBin, repoRoot } from '../support/service-process.ts'

const token = 'agent-test-admin-token-0123456789abcdef'
let t: TestApp
let server: HttpServer | undefined
let port = 0
let instanceId = ''
let otherInstanceId = ''
let agentKey = ''
let agentKeyId = ''
/** A data directory whose pg_wal is a symbolic link elsewhere, as on many hosts. */
const dataDirectory = tempDir('agent-pgdata')
const walTarget = tempDir('agent-wal')
mkdirSync(join(walTarget, 'pg_wal'))
symlinkSync(join(walTarget, 'pg_wal'), join(dataDirectory, 'pg_wal'))

const call = async (method: string, path: string, body?: unknown, bearer = token) => {
  const res = await t.app.request(path, {
    method,
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${bearer}` },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  return { status: res.status, body: res.status === 204 ? null : await res.json() }
}

async function listen() {
  server = await nodeRuntime.serve(t.app.fetch, { host: '127.0.0.1', port })
  port = server.port
}
async function stopListening() {
  await server?.close(2000)
  server = undefined
}

/** Runs `pganalytics agent --once` from the source tree under Bun; never throws. */
function agentOnce(queueDir: string, env: Record<string, string> = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(
      bunBin,
      ['src/main.ts', 'agent', '--once', '--url', `http://127.0.0.1:${port}`, '--queue-dir', queueDir],
      {
        cwd: repoRoot,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? '/root',
          PGA_AGENT_INSTANCE_ID: instanceId,
          PGA_AGENT_KEY: agentKey,
          PGA_AGENT_DATA_DIRECTORY: dataDirectory,
          ...env,
        },
      },
    )
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString()
    })
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString()
    })
    child.once('exit', (code) => resolve({ code, stdout, stderr }))
  })
}

const queued = (dir: string) => readdirSync(join(dir, 'batches')).filter((n) => n.endsWith('.json'))

async function createInstance(name: string) {
  const res = await call('POST', '/api/v1/instances?test=false', { name, host: 'db.internal', username: 'u' })
  expect(res.status).toBe(201)
  return res.body.id as string
}

async function createKey(body: Record<string, unknown>, bearer = token) {
  return call('POST', '/api/v1/api-keys', { name: 'agent', ...body }, bearer)
}

beforeAll(async () => {
  t = await startTestApp({ PGA_ADMIN_TOKEN: token, PGA_COLLECTOR_ENABLED: 'false' })
  await t.deps.collector.maintainPartitions()
  instanceId = await createInstance('db-host-1')
  otherInstanceId = await createInstance('db-host-2')
  const key = await createKey({ role: 'agent', instanceId })
  expect(key.status).toBe(201)
  agentKey = key.body.key
  agentKeyId = key.body.id
  port = await freePort()
  await listen()
})
afterAll(async () => {
  await stopListening()
  await t?.close()
})

/** Host samples stored for an instance, in time order. */
const storedSamples = (id: string) =>
  t.deps.db.sql<{ taken_at: Date; snap_id: string }[]>`
    select taken_at, snap_id::text from sn_stat_snapshot
     where instance_id = ${id} and group_name = 'system_cpu' order by taken_at`

describe('agent keys', () => {
  it('bind to one instance, and refuse what does not fit', async () => {
    const listed = await call('GET', '/api/v1/api-keys')
    expect(listed.body.items.find((k: { id: string }) => k.id === agentKeyId)).toMatchObject({
      role: 'agent',
      instanceId,
    })
    const cases: [Record<string, unknown>, number, string][] = [
      [{ role: 'agent' }, 400, 'agent_key_needs_instance'],
      [{ role: 'viewer', instanceId }, 400, 'instance_binding_agent_only'],
      [{ role: 'agent', instanceId: crypto.randomUUID() }, 404, 'not_found'],
    ]
    for (const [body, status, code] of cases) {
      const res = await createKey(body)
      expect([res.status, res.body.code], JSON.stringify(body)).toEqual([status, code])
    }
    const viewer = await createKey({ role: 'viewer' })
    const fromViewer = await createKey({ role: 'agent', instanceId }, viewer.body.key)
    expect([fromViewer.status, fromViewer.body.code]).toEqual([403, 'role_exceeds_own'])
  })
})

describe('pganalytics agent against a running service', () => {
  const queue = tempDir('agent-queue')

  it('reads this machine’s /proc and pushes every host group', async () => {
    const result = await agentOnce(queue)
    expect(result.code, `${result.stderr}${result.stdout}`).toBe(0)
    expect(queued(queue)).toEqual([])
    for (const group of [
      'system_cpu',
      'system_load',
      'system_memory',
      'system_filesystem',
      'system_pg_volume',
    ]) {
      const latest = await call('GET', `/api/v1/instances/${instanceId}/metrics/${group}/latest`)
      expect(latest.body.rows.length, group).toBeGreaterThan(0)
    }
    const cpu = await call('GET', `/api/v1/instances/${instanceId}/metrics/system_cpu/latest`)
    expect(cpu.body.rows.map((r: { mode: string }) => r.mode).sort()).toEqual([
      'idle',
      'iowait',
      'irq',
      'nice',
      'softirq',
      'steal',
      'system',
      'user',
    ])
    const volume = await call('GET', `/api/v1/instances/${instanceId}/metrics/system_pg_volume/latest`)
    const byKind = Object.fromEntries(
      volume.body.rows.map((r: { kind: string; path: string }) => [r.kind, r.path]),
    )
    expect(byKind).toEqual({ data_directory: dataDirectory, wal_directory: join(walTarget, 'pg_wal') })
    // Secrets stay out of the agent's log.
    expect(result.stdout).not.toContain(agentKey)
  })

  it('serves rates with the reset-safe rule and the exposition', async () => {
    // Series keep the last sample per step (1 s at least): read again until a sample is more than
    // a step after the first.
    const first = (await storedSamples(instanceId))[0]?.taken_at.getTime() ?? 0
    for (let attempt = 0; attempt < 20; attempt++) {
      expect((await agentOnce(queue)).code).toBe(0)
      const last = (await storedSamples(instanceId)).at(-1)?.taken_at.getTime() ?? 0
      if (last - first > 1000) break
    }
    const rate = await call('GET', `/api/v1/instances/${instanceId}/metrics/system_cpu?mode=rate&step=1`)
    const user = rate.body.rows.filter((r: { mode: string }) => r.mode === 'user')
    expect(user.length).toBeGreaterThanOrEqual(2)
    expect(user[0].seconds).toBeNull()
    expect(user.at(-1).seconds).toBeGreaterThanOrEqual(0)
    const res = await t.app.request('/metrics/instances', { headers: { Authorization: `Bearer ${token}` } })
    const text = await res.text()
    expect(text).toMatch(
      /^pga_system_cpu_seconds_total\{instance="db-host-1",instance_id="[^"]+",mode="user"\} /m,
    )
    expect(text).toMatch(/^pga_system_filesystem_avail_bytes\{instance="db-host-1",.*mountpoint="\/"/m)
    expect(text).toMatch(/^pga_system_pg_volume_avail_bytes\{instance="db-host-1",.*kind="wal_directory"/m)
    const { spawnSync } = await import('node:child_process')
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' })
    expect(`${check.stdout}${check.stderr}`.trim()).toBe('')
  })

  it('buffers an outage on disk and replays it in order, with no loss and no duplicate', async () => {
    const before = (await storedSamples(instanceId)).length
    await stopListening()
    for (const expected of [1, 2, 3]) {
      const down = await agentOnce(queue)
      expect(down.code).toBe(1)
      expect(down.stderr).toMatch(/still queued: unreachable/)
      expect(queued(queue)).toHaveLength(expected)
    }
    await listen()
    const up = await agentOnce(queue)
    expect(up.code, up.stderr).toBe(0)
    expect(queued(queue)).toEqual([])
    const after = await storedSamples(instanceId)
    expect(after).toHaveLength(before + 4)
    const times = after.map((s) => s.taken_at.getTime())
    expect(new Set(times).size).toBe(times.length)
    expect([...times].sort((a, b) => a - b)).toEqual(times)
    // Snapshots were written in the order the samples were taken.
    const ids = after.slice(before).map((s) => BigInt(s.snap_id))
    expect([...ids].sort((a, b) => (a < b ? -1 : 1))).toEqual(ids)
  })
})

/** A minimal valid batch of this test's instance. */
function batch(sequence: number, agentId: string, takenAt = new Date(), instance = instanceId) {
  return {
    instanceId: instance,
    agentId,
    sequence,
    agent: { version: 'test', hostname: 'test-host' },
    samples: [
      {
        takenAt: takenAt.toISOString(),
        durationMs: 1,
        groups: { system_load: [{ cpus: 2, load1: 0.5, load5: 0.4, load15: 0.3 }] },
      },
    ],
  }
}

describe('POST /api/v1/agent/metrics', () => {
  it('stores a batch once, also when it arrives twice at the same moment', async () => {
    const agentId = crypto.randomUUID()
    const first = await call('POST', '/api/v1/agent/metrics', batch(1, agentId), agentKey)
    expect(first.body).toMatchObject({ status: 'stored', samples: 1, rows: 1, batchId: `${agentId}:1` })
    const again = await call('POST', '/api/v1/agent/metrics', batch(1, agentId), agentKey)
    expect(again.body).toMatchObject({ status: 'duplicate', rows: 0 })
    const body = batch(2, agentId)
    const both = await Promise.all([1, 2].map(() => call('POST', '/api/v1/agent/metrics', body, agentKey)))
    expect(both.map((r) => r.body.status).sort()).toEqual(['duplicate', 'stored'])
    const [row] = await t.deps.db.sql<{ n: number }[]>`
      select count(*)::int as n from sn_stat_snapshot where instance_id = ${instanceId} and replica = 'agent@test-host'`
    expect(row?.n).toBe(2)
  })

  it('stores a replayed day without a partition, and skips samples older than the retention', async () => {
    const agentId = crypto.randomUUID()
    const fourDaysAgo = new Date(Date.now() - 4 * 86_400_000)
    const res = await call('POST', '/api/v1/agent/metrics', batch(1, agentId, fourDaysAgo), agentKey)
    expect(res.body).toMatchObject({ status: 'stored', rows: 1 })
    const ancient = await call(
      'POST',
      '/api/v1/agent/metrics',
      batch(2, agentId, new Date(Date.now() - 40 * 86_400_000)),
      agentKey,
    )
    expect(ancient.body).toMatchObject({ status: 'stored', rows: 0, skipped: 1 })
  })

  it('refuses a wrong or revoked key, an unbound key, a batch for another instance and bad rows', async () => {
    const agentId = crypto.randomUUID()
    const cases: [string, unknown, number, string][] = [
      ['pgak_0123456789ABCDEFGHIJKLMNOPQRSTUV', batch(1, agentId), 401, 'invalid_token'],
      [token, batch(1, agentId), 403, 'agent_key_required'],
      [agentKey, batch(1, agentId, new Date(), otherInstanceId), 403, 'agent_instance_mismatch'],
      [
        agentKey,
        { ...batch(1, agentId), samples: [{ takenAt: new Date().toISOString(), groups: { nope: [] } }] },
        400,
        'validation_failed',
      ],
      [
        agentKey,
        {
          ...batch(1, agentId),
          samples: [{ takenAt: new Date().toISOString(), groups: { system_load: [{ cpus: 'two' }] } }],
        },
        400,
        'validation_failed',
      ],
      [
        agentKey,
        {
          ...batch(1, agentId),
          samples: [batch(1, agentId).samples[0], batch(1, agentId, new Date(0)).samples[0]],
        },
        400,
        'validation_failed',
      ],
    ]
    for (const [bearer, body, status, code] of cases) {
      const res = await call('POST', '/api/v1/agent/metrics', body, bearer)
      expect([res.status, res.body.code]).toEqual([status, code])
    }
    const viewer = await createKey({ role: 'viewer' })
    const byViewer = await call('POST', '/api/v1/agent/metrics', batch(1, agentId), viewer.body.key)
    expect([byViewer.status, byViewer.body.code]).toEqual([403, 'permission_denied'])
    // A push for another instance is a security event in the audit trail.
    const [denied] = await t.deps.db.sql<{ permission: string }[]>`
      select event->'changes'->>'permission' as permission from audit_outbox
       where event->>'eventType' = 'auth.access_denied' and event->>'actorId' = ${agentKeyId}`
    expect(denied?.permission).toBe('agent:push')
    // Nothing of these reached the store.
    const [row] = await t.deps.db.sql<{ n: number }[]>`
      select count(*)::int as n from pga_agent_streams where agent_id = ${agentId}`
    expect(row?.n).toBe(0)

    const revoked = await createKey({ role: 'agent', instanceId })
    expect((await call('DELETE', `/api/v1/api-keys/${revoked.body.id}`)).status).toBe(204)
    const late = await call('POST', '/api/v1/agent/metrics', batch(1, agentId), revoked.body.key)
    expect([late.status, late.body.code]).toEqual([401, 'invalid_token'])
  })

  it('the agent keeps its queue when its key is refused, and says why', async () => {
    const queue = tempDir('agent-refused')
    const result = await agentOnce(queue, { PGA_AGENT_KEY: 'pgak_0123456789ABCDEFGHIJKLMNOPQRSTUV' })
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/refused \(401 invalid_token\)/)
    expect(queued(queue)).toHaveLength(1)
    const wrongInstance = await agentOnce(queue, { PGA_AGENT_INSTANCE_ID: otherInstanceId })
    expect(wrongInstance.stderr).toMatch(/refused \(403 agent_instance_mismatch\)/)
  })

  it('host tables have exactly the catalog columns and types', async () => {
    for (const group of systemGroups) {
      const rows = await t.deps.db.sql<{ name: string; type: string }[]>`
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
    const { created } = await t.deps.collector.maintainPartitions(Date.now() + 10 * 86_400_000)
    expect(created).toBeGreaterThan(0)
    for (const group of systemGroups) {
      const [row] = await t.deps.db.sql<{ partitions: number; grafana: boolean }[]>`
        select (select count(*)::int from pg_inherits i join pg_class p on p.oid = i.inhparent
                 where p.relname = ${group.table}) as partitions,
               has_table_privilege('pganalytics_grafana', ${group.table}, 'select') as grafana`
      expect(row, group.table).toMatchObject({ grafana: true })
      expect(row?.partitions, group.table).toBeGreaterThan(0)
    }
  })

  it('deleting the instance deletes its agent keys', async () => {
    const id = await createInstance('short-lived')
    const key = await createKey({ role: 'agent', instanceId: id })
    expect((await call('DELETE', `/api/v1/instances/${id}`)).status).toBe(204)
    t.deps.auth.apiKeys.forget()
    const res = await call(
      'POST',
      '/api/v1/agent/metrics',
      batch(1, crypto.randomUUID(), new Date(), id),
      key.body.key,
    )
    expect([res.status, res.body.code]).toEqual([401, 'invalid_token'])
  })
})
