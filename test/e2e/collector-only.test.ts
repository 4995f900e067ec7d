// The collector-only deployment: dist/pganalytics-collector (and `pganalytics collect`) collects
// the instances the API registered in the shared store, answers /livez, /readyz and /metrics
// only, and refuses a configuration it cannot collect with.
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { createTestDatabase } from '../harness/postgres.ts'
import { run } from '../harness/processes.ts'
import { testMasterKey } from '../support/master-key.ts'
import {
  binaryInEmptyDir,
  collectorBinaryPath,
  type ServiceProcess,
  startService,
} from '../support/service-process.ts'
import { until } from '../support/until.ts'

const token = 'collector-only-admin-token-0123456789'
const password = 'C0llector-only-pass-phrase'
const suffix = Math.random().toString(36).slice(2, 8)
const role = `pga_co_${suffix}`

let binary: string
let collectorBinary: string
let storeUrl: string
let store: postgres.Sql
let admin: postgres.Sql
let collector: ServiceProcess
let instanceId: string
const env = () => ({ DATABASE_URL: storeUrl, PGA_MASTER_KEY: testMasterKey, PGA_ADMIN_TOKEN: token })

beforeAll(async () => {
  binary = await binaryInEmptyDir('collector-only')
  collectorBinary = await binaryInEmptyDir('collector-only', collectorBinaryPath)
  storeUrl = await createTestDatabase(inject('pgUrl'))
  admin = postgres(inject('pgUrl'), { max: 1, onnotice: () => {} })
  await admin.unsafe(`create role ${role} login password '${password}' in role pga_password_auth, pg_monitor`)
  store = postgres(storeUrl, { max: 1, onnotice: () => {} })
  // The API registers the instance and does not collect it.
  const api = await startService({
    command: binary,
    env: { ...env(), PGA_COLLECTOR_ENABLED: 'false' },
    timeoutMs: 60_000,
  })
  try {
    const res = await fetch(`${api.url}/api/v1/instances`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
      body: JSON.stringify({
        name: 'collected-alone',
        host: '127.0.0.1',
        port: Number(new URL(inject('pgUrl')).port),
        database: 'postgres',
        username: role,
        password,
        sslmode: 'disable',
        includeDatabases: ['postgres'],
        intervals: { activity: 5 },
      }),
    })
    const body = await res.json()
    expect(res.status, JSON.stringify(body)).toBe(201)
    instanceId = body.id
  } finally {
    await api.stop()
  }
  collector = await startService({
    command: collectorBinary,
    subcommand: 'collect',
    env: env(),
    timeoutMs: 60_000,
  })
}, 240_000)

afterAll(async () => {
  await collector?.stop()
  await store?.end()
  await admin?.end()
})

describe('collector-only binary', () => {
  it('stores snapshots of the registered instance under its own replica', async () => {
    const rows = await until(
      'snapshots from the collector-only process',
      async () => {
        const found = await store<{ group_name: string; status: string; replica: string }[]>`
          select group_name, status, replica from sn_stat_snapshot where instance_id = ${instanceId}`
        return found.some((r) => r.group_name === 'activity' && r.status === 'ok') && found
      },
      { timeoutMs: 60_000, explain: () => collector.lines.join('\n') },
    )
    expect(new Set(rows.map((r) => r.replica.split(':')[1]))).toEqual(new Set([String(collector.child.pid)]))
    const [stored] = await store<{ n: number }[]>`
      select count(*)::int as n from sn_stat_activity where instance_id = ${instanceId}`
    expect(stored?.n).toBeGreaterThan(0)
  })

  it('answers /livez, /readyz and /metrics with the collector metrics', async () => {
    expect(await (await fetch(`${collector.url}/livez`)).json()).toEqual({ status: 'ok' })
    const ready = await fetch(`${collector.url}/readyz`)
    expect(ready.status).toBe(200)
    expect((await ready.json()).checks.store.status).toBe('up')
    const metrics = await fetch(`${collector.url}/metrics`)
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain/)
    const text = await metrics.text()
    expect(text).toMatch(/^pga_collector_instances_owned 1$/m)
    expect(text).toMatch(/^pga_collector_snapshots_total\{group="activity",status="ok"\} [1-9]/m)
  })

  it('serves no API: other paths are 404 and other methods 405, as problem+json', async () => {
    const missing = await fetch(`${collector.url}/api/v1/instances`)
    expect(missing.status).toBe(404)
    expect(missing.headers.get('content-type')).toBe('application/problem+json')
    expect((await missing.json()).code).toBe('not_found')
    const post = await fetch(`${collector.url}/metrics`, { method: 'POST' })
    expect(post.status).toBe(405)
    expect(post.headers.get('allow')).toBe('GET, HEAD')
    expect((await post.json()).code).toBe('method_not_allowed')
  })

  it('answers 404 on /metrics when metrics are disabled', async () => {
    const quiet = await startService({
      command: collectorBinary,
      subcommand: 'collect',
      env: { ...env(), PGA_METRICS_ENABLED: 'false', PGA_COLLECTOR_ENABLED: 'true' },
      timeoutMs: 60_000,
    })
    try {
      const res = await fetch(`${quiet.url}/metrics`)
      expect(res.status).toBe(404)
      expect((await res.json()).code).toBe('not_found')
    } finally {
      await quiet.stop()
    }
  })

  it('exits 2 naming the variable without a shared store or with collection off', async () => {
    const base = { PATH: process.env.PATH ?? '', PGA_MASTER_KEY: testMasterKey }
    for (const command of [
      [collectorBinary, 'collect'],
      [binary, 'collect'],
    ] as const) {
      const embedded = await run(command[0], [command[1]], { env: base }).catch((e) => e)
      expect(embedded.code).toBe(2)
      expect(embedded.stderr).toContain('DATABASE_URL: expected the store of the API replicas')
    }
    const off = await run(collectorBinary, ['collect'], {
      env: { ...base, DATABASE_URL: storeUrl, PGA_COLLECTOR_ENABLED: 'false' },
    }).catch((e) => e)
    expect(off.code).toBe(2)
    expect(off.stderr).toContain('PGA_COLLECTOR_ENABLED: expected true for collect')
  })

  it('prints its version and refuses other commands', async () => {
    const { stdout } = await run(collectorBinary, ['version'])
    expect(stdout).toMatch(/^pganalytics-collector \d+\.\d+\.\d+ \(\w+/)
    const other = await run(collectorBinary, ['serve']).catch((e) => e)
    expect(other.code).toBe(2)
    expect(other.stderr).toMatch(/^usage: pganalytics-collector/)
  })
})
