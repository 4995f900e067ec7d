// Load balancers and failover, measured (docs/PERFORMANCE.md, docs/FAILOVER_PROCEDURES.md):
//   node_modules/.bin/bun bench/failover.ts [--seconds 20] [--rate 100] [--settle 10] [--redis-down 5]
// 1. Throughput of authenticated reads (loadtest/scenarios/read-throughput.json, vegeta, as fast
//    as 64 workers go) through HAProxy and nginx in front of three replicas of the binary, over
//    TLS + HTTP/2, and straight to one replica over plain HTTP as the reference of the same run.
// 2. The failover drill (test/harness/failover-drill.ts) through each balancer at a constant rate
//    of reads and idempotent writes: SIGKILL of a replica, rolling SIGTERM restart, balancer
//    reload, Redis restart; failed requests, detection time and latency per phase.
// Prints tables and writes bench/results/failover-latest.json; asserts nothing. Everything it
// starts is stopped by PID, also on error, Ctrl-C or the watchdog (15 min).
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import {
  cleanupTarget,
  formatSummary,
  type LoadSummary,
  loadScenario,
  prepareTarget,
  runScenario,
} from '../loadtest/runner.ts'
import { type Balancer, startBalancer } from '../test/harness/balancers.ts'
import { type Cluster, startCluster } from '../test/harness/cluster.ts'
import { type DrillReport, formatDrill, runFailoverDrill } from '../test/harness/failover-drill.ts'
import { startPostgres, type TestPostgres } from '../test/harness/postgres.ts'
import { runBench } from './support.ts'

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '20' },
    rate: { type: 'string', default: '100' },
    settle: { type: 'string', default: '10' },
    'redis-down': { type: 'string', default: '5' },
  },
})
const seconds = Number(args.seconds)
const rate = Number(args.rate)
const settleMs = Number(args.settle) * 1000
const redisDownMs = Number(args['redis-down']) * 1000
const watchdogMs = 15 * 60_000

let pg: TestPostgres | undefined
let cluster: Cluster | undefined
const balancers: Balancer[] = []
async function cleanup() {
  await Promise.allSettled(balancers.map((b) => b.stop()))
  await cluster?.stop().catch(() => {})
  await pg?.stop().catch(() => {})
}

type Throughput = { path: string; summary: LoadSummary }

async function throughput(path: string, baseUrl: string, options: { caFile?: string; http2?: boolean }) {
  if (!cluster) throw new Error('no cluster')
  const scenario = loadScenario('read-throughput')
  const target = await prepareTarget(
    baseUrl,
    { email: cluster.adminEmail, password: cluster.adminPassword },
    scenario,
    options,
  )
  // A short warm-up (connections, caches), then the measured run.
  await runScenario(scenario, target, { durationSeconds: 3 })
  const { summary } = await runScenario(scenario, target, { durationSeconds: seconds })
  await cleanupTarget(target)
  console.log(`\n${path}\n${formatSummary(summary, scenario)}`)
  return { path, summary }
}

async function main() {
  console.log(
    `machine: ${cpus().length} CPUs (${cpus()[0]?.model}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
  )
  pg = await startPostgres()
  // The shutdown delay docs/LOAD_BALANCER_GUIDE.md advises behind HAProxy (fall × inter = 1 s).
  cluster = await startCluster({
    replicas: 3,
    pgUrl: pg.url,
    env: { PGA_LOG_LEVEL: 'warn', PGA_SHUTDOWN_DELAY: '2s' },
  })
  // All load comes from one address here: the per-client limit would measure itself.
  const unlimited = { rateLimitPerSecond: 1_000_000, rateLimitBurst: 1_000_000 }
  const haproxy = await startBalancer('haproxy', cluster.addresses(), unlimited)
  const nginx = await startBalancer('nginx', cluster.addresses(), unlimited)
  balancers.push(haproxy, nginx)

  const runs: Throughput[] = [
    await throughput(
      'one replica, direct (HTTP/1.1, no TLS): reference',
      `http://${cluster.addresses()[0]}`,
      {},
    ),
    await throughput('HAProxy, 3 replicas (TLS, HTTP/2)', `https://127.0.0.1:${haproxy.httpsPort}`, {
      caFile: haproxy.caFile,
      http2: true,
    }),
    await throughput('nginx, 3 replicas (TLS, HTTP/2)', `https://127.0.0.1:${nginx.httpsPort}`, {
      caFile: nginx.caFile,
      http2: true,
    }),
  ]

  const drills: DrillReport[] = []
  for (const balancer of [haproxy, nginx]) {
    const report = await runFailoverDrill({
      cluster,
      balancer,
      scenario: loadScenario('failover'),
      rate,
      settleMs,
      redisDownMs,
      log: (message) => console.error(message),
    })
    console.log(`\n${formatDrill(report)}`)
    drills.push(report)
  }

  console.log('\nsummary')
  for (const run of runs)
    console.log(
      `  ${run.path}: ${run.summary.throughputPerSecond.toFixed(0)} req/s, p50 ${run.summary.latencyMs.p50.toFixed(1)} ms, p99 ${run.summary.latencyMs.p99.toFixed(1)} ms, errors ${run.summary.errors}`,
    )
  for (const drill of drills)
    console.log(
      `  ${drill.balancer} drill at ${drill.ratePerSecond} req/s: ${drill.phases
        .map((p) => `${p.name} ${p.summary.errors}/${p.summary.requests} failed`)
        .join(', ')}`,
    )
  const dir = join(import.meta.dirname, 'results')
  mkdirSync(dir, { recursive: true })
  writeFileSync(
    join(dir, 'failover-latest.json'),
    JSON.stringify(
      { date: new Date().toISOString(), seconds, rate, settleMs, redisDownMs, runs, drills },
      null,
      2,
    ),
  )
  console.log('\nJSON: bench/results/failover-latest.json')
}

await runBench('bench/failover.ts', main, cleanup, watchdogMs)
