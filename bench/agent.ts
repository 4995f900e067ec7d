// Host agent benchmark. It PRINTS figures (a table and a one-line JSON summary starting with
// `JSON `); it never passes or fails on them. What it does:
//   1. starts a throwaway PostgreSQL 15 cluster (test/harness/postgres.ts) holding the store, and
//      the service from the working tree (`bun src/main.ts serve`, collector off);
//   2. adds --hosts instances (test=false) and an agent key bound to each;
//   3. ingest: one real sample of this machine (HostSampler: 7 host groups) is the payload; for
//      --seconds, --concurrency pushers send one-sample batches round-robin over the hosts (as
//      agents do, each host's sequence counting up) to POST /api/v1/agent/metrics; measured:
//      batches and rows stored per second, latency percentiles, the service's CPU per batch
//      (/proc/<pid>/stat) and the store's (every postgres process of the cluster);
//   4. agent: runs `bun src/main.ts agent --interval 1s` against the service for --agent-seconds
//      and reads its CPU time and RSS (/proc/<pid>/status), giving CPU per reading and push.
// Every process it starts is stopped by PID, also on error or Ctrl-C. Run from the repo root:
//   node_modules/.bin/bun bench/agent.ts [--hosts 50] [--seconds 30] [--concurrency 8] [--agent-seconds 30]
import { randomUUID } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { cpus, hostname, loadavg } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import type { Subprocess } from 'bun'
import postgres from 'postgres'
import { HostSampler } from '../src/agent/sampler.ts'
import { createLogger } from '../src/platform/log.ts'
import { createTestDatabase, startPostgres, type TestPostgres } from '../test/harness/postgres.ts'
import { freePort, tempDir } from '../test/harness/processes.ts'
import { cpuSeconds, procStatus, quantile, runBench } from './support.ts'

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '50' },
    seconds: { type: 'string', default: '30' },
    concurrency: { type: 'string', default: '8' },
    'agent-seconds': { type: 'string', default: '30' },
  },
})
const hosts = Number(values.hosts)
const seconds = Number(values.seconds)
const concurrency = Number(values.concurrency)
const agentSeconds = Number(values['agent-seconds'])
const root = join(import.meta.dirname, '..')
const bun = join(root, 'node_modules', '.bin', 'bun')
const token = `bench-admin-${randomUUID()}`

let pg: TestPostgres | undefined
let postmaster = 0
const children: Subprocess[] = []

const cpuOf = (pid: number) => cpuSeconds(pid)
const rssMiB = (pid: number) => procStatus(pid, 'VmRSS') ?? Number.NaN

/** CPU seconds of every postgres process of the cluster (children of the postmaster). */
function clusterCpu(postmaster: number): number {
  let total = cpuOf(postmaster)
  for (const entry of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      if (Number(stat.split(') ')[1]?.split(' ')[1]) === postmaster) total += cpuOf(Number(entry))
    } catch {}
  }
  return total
}

async function api(url: string, path: string, body?: unknown, bearer = token) {
  const res = await fetch(`${url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${bearer}` },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`)
  return res.json() as Promise<Record<string, unknown>>
}

async function startService(databaseUrl: string): Promise<{ url: string; pid: number }> {
  const port = await freePort()
  const child = Bun.spawn([bun, 'src/main.ts', 'serve'], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      DATABASE_URL: databaseUrl,
      PGA_MASTER_KEY: Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64'),
      PGA_ADMIN_TOKEN: token,
      PGA_PORT: String(port),
      PGA_COLLECTOR_ENABLED: 'false',
      PGA_LOG_LEVEL: 'warn',
      PGA_AUDIT_CHECKPOINT_DIR: tempDir('bench-agent-checkpoints'),
    },
    stdout: 'ignore',
    stderr: 'inherit',
  })
  children.push(child)
  const url = `http://127.0.0.1:${port}`
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; await Bun.sleep(100))
    if (
      await fetch(`${url}/readyz`).then(
        (r) => r.ok,
        () => false,
      )
    )
      return { url, pid: child.pid }
  throw new Error('service not ready within 60 s')
}

async function measureIngest(url: string, servicePid: number, keys: { id: string; key: string }[]) {
  const sample = await new HostSampler(
    { procfs: '/proc', sysfs: '/sys', rootfs: '/', dataDirectory: root },
    createLogger({ level: 'error' }),
  ).sample()
  const rowsPerBatch = Object.values(sample.groups).reduce((n, rows) => n + rows.length, 0)
  const agents = keys.map((k) => ({ ...k, agentId: randomUUID(), sequence: 0 }))
  const latencies: number[] = []
  let rows = 0
  let next = 0
  const [cpu0, pg0, t0] = [cpuOf(servicePid), clusterCpu(postmaster), performance.now()]
  const until = t0 + seconds * 1000
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        const agent = agents[next++ % agents.length] as (typeof agents)[number]
        agent.sequence++
        const body = {
          instanceId: agent.id,
          agentId: agent.agentId,
          sequence: agent.sequence,
          agent: { version: 'bench', hostname: hostname() },
          samples: [{ ...sample, takenAt: new Date().toISOString() }],
        }
        const started = performance.now()
        const result = await api(url, '/api/v1/agent/metrics', body, agent.key)
        latencies.push(performance.now() - started)
        rows += Number(result.rows)
      }
    }),
  )
  const elapsed = (performance.now() - t0) / 1000
  const [serviceCpu, storeCpu] = [cpuOf(servicePid) - cpu0, clusterCpu(postmaster) - pg0]
  latencies.sort((a, b) => a - b)
  return {
    batches: latencies.length,
    rowsPerBatch,
    batchesPerSecond: latencies.length / elapsed,
    rowsPerSecond: rows / elapsed,
    p50ms: quantile(latencies, 0.5),
    p99ms: quantile(latencies, 0.99),
    serviceCpuMsPerBatch: (serviceCpu * 1000) / latencies.length,
    storeCpuMsPerBatch: (storeCpu * 1000) / latencies.length,
  }
}

async function measureAgent(url: string, instanceId: string, key: string) {
  const agent = Bun.spawn(
    [
      bun,
      'src/main.ts',
      'agent',
      '--url',
      url,
      '--instance',
      instanceId,
      '--interval',
      '1s',
      '--queue-dir',
      tempDir('bench-agent-queue'),
      '--data-directory',
      root,
    ],
    {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', PGA_AGENT_KEY: key, PGA_LOG_LEVEL: 'warn' },
      stdout: 'ignore',
      stderr: 'inherit',
    },
  )
  children.push(agent)
  await Bun.sleep(3000) // start-up (Bun, module loading) is not a steady-state cost
  const [cpu0, t0] = [cpuOf(agent.pid), performance.now()]
  await Bun.sleep(agentSeconds * 1000)
  const [cpu, elapsed, rss] = [cpuOf(agent.pid) - cpu0, (performance.now() - t0) / 1000, rssMiB(agent.pid)]
  agent.kill('SIGTERM')
  await agent.exited
  return { cpuMsPerReading: (cpu * 1000) / elapsed, cpuShareAt15s: cpu / elapsed / 15, rssMiB: rss }
}

await runBench(
  'bench/agent',
  async () => {
    pg = await startPostgres()
    const admin = postgres(pg.url, { max: 1 })
    const [{ dir }] = (await admin`select current_setting('data_directory') as dir`) as unknown as [
      { dir: string },
    ]
    await admin.end()
    postmaster = Number(readFileSync(join(dir, 'postmaster.pid'), 'utf8').split('\n')[0])
    const service = await startService(await createTestDatabase(pg.url, 'pga_bench_agent'))
    const keys: { id: string; key: string }[] = []
    for (let i = 0; i < hosts; i++) {
      const instance = await api(service.url, '/api/v1/instances?test=false', {
        name: `host-${i}`,
        host: `db${i}.internal`,
        username: 'u',
      })
      const key = await api(service.url, '/api/v1/api-keys', {
        name: `agent ${i}`,
        role: 'agent',
        instanceId: instance.id,
      })
      keys.push({ id: instance.id as string, key: key.key as string })
    }
    const ingest = await measureIngest(service.url, service.pid, keys)
    const agent = await measureAgent(service.url, keys[0]?.id as string, keys[0]?.key as string)
    const f = (n: number, d = 1) => n.toFixed(d)
    console.log(
      `machine: ${cpus().length} × ${cpus()[0]?.model}, load ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    )
    console.log(
      `ingest: ${hosts} hosts, ${concurrency} pushers, ${seconds} s, ${ingest.rowsPerBatch} rows per one-sample batch`,
    )
    console.log(
      `  batches/s ${f(ingest.batchesPerSecond)}  rows/s ${f(ingest.rowsPerSecond, 0)}  p50 ${f(ingest.p50ms)} ms  p99 ${f(ingest.p99ms)} ms`,
    )
    console.log(
      `  service CPU ${f(ingest.serviceCpuMsPerBatch, 2)} ms/batch, store CPU ${f(ingest.storeCpuMsPerBatch, 2)} ms/batch`,
    )
    console.log(
      `agent (1 s interval, ${agentSeconds} s): CPU ${f(agent.cpuMsPerReading, 2)} ms per reading and push, RSS ${f(agent.rssMiB)} MiB; at 15 s: ${f(agent.cpuShareAt15s * 100, 3)} % of a core`,
    )
    console.log(`JSON ${JSON.stringify({ hosts, concurrency, seconds, ingest, agent })}`)
  },
  async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGTERM')
    await Promise.all(children.map((c) => c.exited))
    await pg?.stop()
  },
  30 * 60_000,
)
