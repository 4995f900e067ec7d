// Idempotency-Key across two replicas of the binary sharing PostgreSQL and Redis: a retry on the
// other replica replays; while the first attempt runs the other answers 409; and when the replica
// running the first attempt is killed (SIGKILL) mid-request, a retry on the survivor takes the
// key over once its lock lapses and creates the object exactly once.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { createTestDatabase } from '../harness/postgres.ts'
import { tempDir } from '../harness/processes.ts'
import { startTcpGate, type TcpGate } from '../harness/tcp-gate.ts'
import { testMasterKey } from '../support/master-key.ts'
import { binaryInEmptyDir, type ServiceProcess, startService } from '../support/service-process.ts'

const adminToken = 'idempotency-replicas-admin-token-0123456789'
let a: ServiceProcess
let b: ServiceProcess
let gate: TcpGate
let databaseUrl = ''

type Reply = { status: number; body: Record<string, unknown>; replayed: string | null }
async function createInstance(
  service: ServiceProcess,
  name: string,
  key: string,
  port: number,
  test: boolean,
): Promise<Reply> {
  const res = await fetch(`${service.url}/api/v1/instances?test=${test}`, {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${adminToken}`,
      'Content-Type': 'application/json',
      'Idempotency-Key': key,
    },
    body: JSON.stringify({
      name,
      host: '127.0.0.1',
      port,
      username: 'postgres',
      sslmode: 'disable',
      enabled: false,
    }),
    signal: AbortSignal.timeout(60_000),
  })
  return {
    status: res.status,
    body: (await res.json()) as Record<string, unknown>,
    replayed: res.headers.get('Idempotent-Replayed'),
  }
}

async function instancesNamed(name: string): Promise<number> {
  const postgres = (await import('postgres')).default
  const sql = postgres(databaseUrl, { max: 1 })
  try {
    const [row] = await sql<
      { n: number }[]
    >`select count(*)::int as n from pga_instances where name = ${name}`
    return row?.n ?? -1
  } finally {
    await sql.end()
  }
}

beforeAll(async () => {
  const binary = await binaryInEmptyDir('idem-replicas')
  databaseUrl = await createTestDatabase(inject('pgUrl'))
  const env = {
    DATABASE_URL: databaseUrl,
    REDIS_URL: inject('redisUrl'),
    PGA_REDIS_KEY_PREFIX: `idem${Math.random().toString(36).slice(2, 8)}:`,
    PGA_MASTER_KEY: testMasterKey,
    PGA_ADMIN_TOKEN: adminToken,
    PGA_COLLECTOR_ENABLED: 'false',
    PGA_IDEMPOTENCY_WAIT: '1s',
  }
  a = await startService({ command: binary, cwd: tempDir('idem-a'), env, timeoutMs: 60_000 })
  b = await startService({ command: binary, cwd: tempDir('idem-b'), env, timeoutMs: 60_000 })
  gate = await startTcpGate(Number(new URL(inject('pgUrl')).port))
}, 180_000)

afterAll(async () => {
  await gate?.close()
  await Promise.all([a, b].filter(Boolean).map((s) => s.stop()))
})

describe('Idempotency-Key across replicas', () => {
  it('replays on the other replica what the first one did', async () => {
    const pgPort = Number(new URL(inject('pgUrl')).port)
    const first = await createInstance(a, 'replicas-replay', 'replicas-key-1', pgPort, false)
    const retry = await createInstance(b, 'replicas-replay', 'replicas-key-1', pgPort, false)
    expect([first.status, retry.status, retry.replayed]).toEqual([201, 201, 'true'])
    expect(retry.body.id).toBe(first.body.id)
    expect(await instancesNamed('replicas-replay')).toBe(1)
  })

  it('takes over the key of a replica killed mid-request, and creates the object once', async () => {
    // A's connection test hangs at the gate: the request is in flight on A.
    const onA = createInstance(a, 'replicas-killed', 'replicas-key-2', gate.port, true).catch(
      (error: Error) => error,
    )
    await gate.waitForConnections(1)
    // The same key on B while A runs: 409 after waiting PGA_IDEMPOTENCY_WAIT.
    const concurrent = await createInstance(b, 'replicas-killed', 'replicas-key-2', gate.port, true)
    expect([concurrent.status, concurrent.body.code]).toEqual([409, 'idempotency_in_progress'])

    a.child.kill('SIGKILL')
    await a.exited
    expect(await onA).toBeInstanceOf(Error) // the client saw the connection drop
    gate.open()
    // The retry (what a balancer does after the replica vanished): waits for the dead replica's
    // lock to lapse, then runs once.
    let retry = await createInstance(b, 'replicas-killed', 'replicas-key-2', gate.port, true)
    const deadline = Date.now() + 30_000
    while (retry.status === 409 && retry.body.code === 'idempotency_in_progress' && Date.now() < deadline)
      retry = await createInstance(b, 'replicas-killed', 'replicas-key-2', gate.port, true)
    expect([retry.status, retry.replayed]).toEqual([201, null])
    const again = await createInstance(b, 'replicas-killed', 'replicas-key-2', gate.port, true)
    expect([again.status, again.replayed, again.body.id]).toEqual([201, 'true', retry.body.id])
    expect(await instancesNamed('replicas-killed')).toBe(1)
  }, 90_000)
})
