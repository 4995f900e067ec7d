// The host agent against a running service: `pganalytics agent --once` (the CLI, under Bun) reads
// this machine's real /proc and pushes over HTTP to a real listener; the rows come back through
// the read API and the exposition. An outage is buffered on disk and replayed in order with no
// loss and no duplicate; a refused key keeps the queue and says why.
import { spawn } from 'node:child_process'
import { mkdirSync, readdirSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { nodeRuntime } from '../../src/runtime/node.ts'
import type { HttpServer } from '../../src/runtime/runtime.ts'
import { freePort, tempDir } from '../harness/processes.ts'
import { type AgentFixture, startAgentFixture, agentToken as token } from '../support/agent-fixture.ts'
import { bunBin, repoRoot } from '../support/service-process.ts'

let f: AgentFixture
let server: HttpServer | undefined
let port = 0
/** A data directory whose pg_wal is a symbolic link elsewhere, as on many hosts. */
const dataDirectory = tempDir('agent-pgdata')
const walTarget = tempDir('agent-wal')
mkdirSync(join(walTarget, 'pg_wal'))
symlinkSync(join(walTarget, 'pg_wal'), join(dataDirectory, 'pg_wal'))

async function listen() {
  server = await nodeRuntime.serve(f.t.app.fetch, { host: '127.0.0.1', port })
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
          PGA_AGENT_INSTANCE_ID: f.instanceId,
          PGA_AGENT_KEY: f.agentKey,
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

beforeAll(async () => {
  f = await startAgentFixture()
  port = await freePort()
  await listen()
})
afterAll(async () => {
  await stopListening()
  await f?.t.close()
})

/** Host samples stored for an instance, in time order. */
const storedSamples = (id: string) =>
  f.t.deps.db.sql<{ taken_at: Date; snap_id: string }[]>`
    select taken_at, snap_id::text from sn_stat_snapshot
     where instance_id = ${id} and group_name = 'system_cpu' order by taken_at`

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
      const latest = await f.call('GET', `/api/v1/instances/${f.instanceId}/metrics/${group}/latest`)
      expect(latest.body.rows.length, group).toBeGreaterThan(0)
    }
    const cpu = await f.call('GET', `/api/v1/instances/${f.instanceId}/metrics/system_cpu/latest`)
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
    const volume = await f.call('GET', `/api/v1/instances/${f.instanceId}/metrics/system_pg_volume/latest`)
    const byKind = Object.fromEntries(
      volume.body.rows.map((r: { kind: string; path: string }) => [r.kind, r.path]),
    )
    expect(byKind).toEqual({ data_directory: dataDirectory, wal_directory: join(walTarget, 'pg_wal') })
    // Secrets stay out of the agent's log.
    expect(result.stdout).not.toContain(f.agentKey)
  })

  it('serves rates with the reset-safe rule and the exposition', async () => {
    // Series keep the last sample per step (1 s at least): read again until a sample is more than
    // a step after the first.
    const first = (await storedSamples(f.instanceId))[0]?.taken_at.getTime() ?? 0
    for (let attempt = 0; attempt < 20; attempt++) {
      expect((await agentOnce(queue)).code).toBe(0)
      const last = (await storedSamples(f.instanceId)).at(-1)?.taken_at.getTime() ?? 0
      if (last - first > 1000) break
    }
    const rate = await f.call('GET', `/api/v1/instances/${f.instanceId}/metrics/system_cpu?mode=rate&step=1`)
    const user = rate.body.rows.filter((r: { mode: string }) => r.mode === 'user')
    expect(user.length).toBeGreaterThanOrEqual(2)
    expect(user[0].seconds).toBeNull()
    // CPU seconds per second in user mode over more than a second of a busy test machine.
    expect(user.at(-1).seconds).toBeGreaterThan(0)
    const res = await f.t.app.request('/metrics/instances', { headers: { Authorization: `Bearer ${token}` } })
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
    const before = (await storedSamples(f.instanceId)).length
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
    const after = await storedSamples(f.instanceId)
    expect(after).toHaveLength(before + 4)
    const times = after.map((s) => s.taken_at.getTime())
    expect(new Set(times).size).toBe(times.length)
    expect([...times].sort((a, b) => a - b)).toEqual(times)
    // Snapshots were written in the order the samples were taken.
    const ids = after.slice(before).map((s) => BigInt(s.snap_id))
    expect([...ids].sort((a, b) => (a < b ? -1 : 1))).toEqual(ids)
  })

  it('the agent keeps its queue when its key is refused, and says why', async () => {
    const queue = tempDir('agent-refused')
    const result = await agentOnce(queue, { PGA_AGENT_KEY: 'pgak_0123456789ABCDEFGHIJKLMNOPQRSTUV' })
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/refused \(401 invalid_token\)/)
    expect(queued(queue)).toHaveLength(1)
    const wrongInstance = await agentOnce(queue, { PGA_AGENT_INSTANCE_ID: f.otherInstanceId })
    expect(wrongInstance.stderr).toMatch(/refused \(403 agent_instance_mismatch\)/)
  })
})
