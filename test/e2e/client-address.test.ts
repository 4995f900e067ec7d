// The socket peer as each runtime reports it (Bun's requestIP in the binary, the Node build's
// socket), over IPv4 and IPv6 on a dual-stack listener: the address in the access log and in the
// audit trail is the real peer, a forged X-Forwarded-For changes nothing, and an IPv4 client of
// an IPv6 socket shows as IPv4.
import { request } from 'node:http'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { createTestDatabase } from '../harness/postgres.ts'
import { tempDir } from '../harness/processes.ts'
import { loginAddress } from '../support/audit-trail.ts'
import { testMasterKey } from '../support/master-key.ts'
import {
  binaryInEmptyDir,
  ensureBuilt,
  nodeBundlePath,
  type ServiceProcess,
  startService,
} from '../support/service-process.ts'

const email = 'peer@example.com'
const password = 'a long socket address passphrase'
const started: { name: string; service: ServiceProcess; databaseUrl: string }[] = []

beforeAll(async () => {
  const binary = await binaryInEmptyDir('client-address')
  await ensureBuilt()
  for (const [name, command, args] of [
    ['binary (Bun)', binary, []],
    ['Node build', process.execPath, [nodeBundlePath]],
  ] as const) {
    const databaseUrl = await createTestDatabase(inject('pgUrl'))
    const service = await startService({
      command,
      args: [...args],
      cwd: tempDir('peer'),
      env: {
        DATABASE_URL: databaseUrl,
        REDIS_URL: inject('redisUrl'),
        PGA_REDIS_KEY_PREFIX: `peer${started.length}:`,
        PGA_MASTER_KEY: testMasterKey,
        PGA_ADMIN_EMAIL: email,
        PGA_ADMIN_PASSWORD: password,
        PGA_COLLECTOR_ENABLED: 'false',
        PGA_HOST: '::',
      },
      timeoutMs: 60_000,
    })
    started.push({ name, service, databaseUrl })
  }
}, 180_000)

afterAll(async () => {
  await Promise.all(started.map((s) => s.service.stop()))
})

/** Signs in over a chosen address family, with a forged X-Forwarded-For; returns the session. */
function signIn(host: string, port: number): Promise<{ status: number; sessionId: string }> {
  const body = JSON.stringify({ email, password })
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host,
        port,
        path: '/api/v1/auth/login',
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          'Content-Length': Buffer.byteLength(body),
          'X-Forwarded-For': '203.0.113.66',
        },
      },
      (res) => {
        let text = ''
        res.on('data', (chunk) => {
          text += chunk
        })
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            sessionId: (JSON.parse(text) as { session_id: string }).session_id,
          }),
        )
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

describe.each(['binary (Bun)', 'Node build'])('the client address on the %s', (name) => {
  const target = () => started.find((s) => s.name === name) as (typeof started)[number]

  it.each([
    ['::1', '::1'],
    ['127.0.0.1', '127.0.0.1'],
  ])('is the socket peer over %s (recorded as %s)', async (host, recorded) => {
    const { service, databaseUrl } = target()
    const { status, sessionId } = await signIn(host, service.port)
    expect(status).toBe(200)
    expect(await loginAddress(databaseUrl, sessionId)).toBe(recorded)
    const line = await service.waitForLine(
      new RegExp(`"route":"/api/v1/auth/login".*"client":"${recorded.replace(/\./g, '\\.')}"`),
    )
    expect(line).not.toContain('203.0.113.66')
  })
})
