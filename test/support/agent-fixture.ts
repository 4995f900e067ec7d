// Shared by the agent tests: the app with two instances and an agent key bound to the first,
// calls to its API, and a minimal valid batch.
import { expect } from 'vitest'
import { startTestApp, type TestApp } from './app.ts'

export const agentToken = 'agent-test-admin-token-0123456789abcdef'

/** A response body as tests read it: loosely, field by field. */
// biome-ignore lint/suspicious/noExplicitAny: tests read response bodies loosely
type Body = any

export type AgentFixture = {
  t: TestApp
  instanceId: string
  otherInstanceId: string
  agentKey: string
  agentKeyId: string
  call(method: string, path: string, body?: unknown, bearer?: string): Promise<{ status: number; body: Body }>
  createInstance(name: string): Promise<string>
  createKey(body: Record<string, unknown>, bearer?: string): Promise<{ status: number; body: Body }>
}

export async function startAgentFixture(): Promise<AgentFixture> {
  const t = await startTestApp({ PGA_ADMIN_TOKEN: agentToken, PGA_COLLECTOR_ENABLED: 'false' })
  await t.deps.collector.maintainPartitions()
  const call: AgentFixture['call'] = async (method, path, body, bearer = agentToken) => {
    const res = await t.app.request(path, {
      method,
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${bearer}` },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    return { status: res.status, body: res.status === 204 ? null : await res.json() }
  }
  const createInstance = async (name: string) => {
    const res = await call('POST', '/api/v1/instances?test=false', {
      name,
      host: 'db.internal',
      username: 'u',
    })
    expect(res.status).toBe(201)
    return res.body.id as string
  }
  const createKey: AgentFixture['createKey'] = (body, bearer = agentToken) =>
    call('POST', '/api/v1/api-keys', { name: 'agent', ...body }, bearer)
  const instanceId = await createInstance('db-host-1')
  const otherInstanceId = await createInstance('db-host-2')
  const key = await createKey({ role: 'agent', instanceId })
  expect(key.status).toBe(201)
  return {
    t,
    instanceId,
    otherInstanceId,
    agentKey: key.body.key,
    agentKeyId: key.body.id,
    call,
    createInstance,
    createKey,
  }
}

/** A minimal valid batch (one sample, the load group). */
export function agentBatch(instanceId: string, sequence: number, agentId: string, takenAt = new Date()) {
  return {
    instanceId,
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
