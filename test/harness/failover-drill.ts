// The failover drill: a constant-rate load of authenticated reads and idempotent writes through a
// balancer (TLS, HTTP/2) while, one after the other, a replica is killed (SIGKILL) and brought
// back, every replica is restarted with SIGTERM (rolling), the balancer reloads its
// configuration, and Redis restarts. Every request is kept; the report gives each phase's
// requests, failures and latency, and how long the balancer took to notice the dead replica.
// test/e2e/load-balancers.test.ts runs it short; bench/failover.ts runs it long.
import {
  cleanupTarget,
  type LoadSummary,
  prepareTarget,
  type RequestResult,
  runScenario,
  type Scenario,
  summarize,
} from '../../loadtest/runner.ts'
import type { Balancer } from './balancers.ts'
import type { Cluster } from './cluster.ts'

export type PhaseName =
  | 'baseline'
  | 'replica killed'
  | 'rolling restart'
  | 'balancer reload'
  | 'Redis restart'
export type PhaseReport = {
  name: PhaseName
  fromMs: number
  toMs: number
  summary: LoadSummary
  /** Replica killed: from the kill to the balancer's first sign of it (log line). */
  detectionMs?: number
  /** Replica killed: the balancer's log line that showed it noticed (the drill waits for it). */
  detectedBy?: string
  /** Replica killed: the requests sent between the kill and the restart of the replica, which
   * the other replicas had to answer. */
  outage?: LoadSummary
}
export type DrillReport = {
  balancer: Balancer['kind']
  ratePerSecond: number
  phases: PhaseReport[]
  total: LoadSummary
  /** The failed requests (at most 50), for the test's message. */
  failures: RequestResult[]
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export async function runFailoverDrill(options: {
  cluster: Cluster
  balancer: Balancer
  scenario: Scenario
  rate: number
  /** Load between actions, so each phase has steady-state traffic too. */
  settleMs: number
  /** How long Redis stays down (default 1 s). */
  redisDownMs?: number
  log?: (message: string) => void
}): Promise<DrillReport> {
  const { cluster, balancer, scenario, settleMs } = options
  const log = options.log ?? (() => {})
  const target = await prepareTarget(
    `https://127.0.0.1:${balancer.httpsPort}`,
    { email: cluster.adminEmail, password: cluster.adminPassword },
    scenario,
    { caFile: balancer.caFile, http2: true },
  )
  const stop = new AbortController()
  const load = runScenario(scenario, target, { rate: options.rate, durationSeconds: 0, signal: stop.signal })
  type Detection = { detectionMs: number; detectedBy: string; outage: { fromMs: number; toMs: number } }
  const windows: ({ name: PhaseName; fromMs: number; toMs: number } & Partial<Detection>)[] = []
  /** Runs one phase; what it returns is how the balancer noticed a dead replica. */
  const phase = async (name: PhaseName, run: () => Promise<Detection | undefined>) => {
    log(`${balancer.kind}: ${name}`)
    const fromMs = Date.now()
    const detection = await run()
    windows.push({ name, fromMs, toMs: Date.now(), ...detection })
  }
  const replicaName = (index: number) => `replica-${index + 1}`
  /** Waits until the balancer sends to the replica again, which is ready since `since`. */
  const backInRotation = (index: number, since: number) =>
    balancer.waitInRotation(replicaName(index), { since, timeoutMs: 30_000 })
  try {
    await phase('baseline', async () => {
      await sleep(settleMs)
      return undefined
    })
    await phase('replica killed', async () => {
      const victim = 1
      const killedAt = Date.now()
      await cluster.kill(victim)
      const noticed = await balancer.waitForLine(
        balancer.kind === 'haproxy'
          ? new RegExp(`Server replicas/${replicaName(victim)} is DOWN`)
          : new RegExp(`upstream: "http://${cluster.replicas[victim]?.address.replace(/\./g, '\\.')}`),
        { after: killedAt, timeoutMs: 30_000 },
      )
      await sleep(settleMs)
      const restartedAt = Date.now()
      await cluster.start(victim)
      await backInRotation(victim, Date.now())
      await sleep(settleMs)
      return {
        detectionMs: noticed.at - killedAt,
        detectedBy: noticed.line,
        outage: { fromMs: killedAt, toMs: restartedAt },
      }
    })
    await phase('rolling restart', async () => {
      for (const replica of cluster.replicas) {
        const code = await cluster.terminate(replica.index)
        if (code !== 0) throw new Error(`replica ${replica.index} exited with ${code} on SIGTERM`)
        await cluster.start(replica.index)
        await backInRotation(replica.index, Date.now())
      }
      await sleep(settleMs)
      return undefined
    })
    await phase('balancer reload', async () => {
      await balancer.reload()
      await sleep(settleMs)
      return undefined
    })
    await phase('Redis restart', async () => {
      await cluster.restartRedis(options.redisDownMs ?? 1000)
      await sleep(settleMs * 2)
      return undefined
    })
  } finally {
    stop.abort()
  }
  const { results } = await load
  await cleanupTarget(target).catch(() => {})
  const phases = windows.map(({ outage, ...w }) => ({
    ...w,
    summary: summarize(results, scenario, w),
    ...(outage ? { outage: summarize(results, scenario, outage) } : {}),
  }))
  const total = summarize(results, scenario)
  const failures = results.filter((r) => r.status === 0 || !isExpected(r, scenario)).slice(0, 50)
  return { balancer: balancer.kind, ratePerSecond: options.rate, phases, total, failures }
}

const isExpected = (result: RequestResult, scenario: Scenario) =>
  scenario.requests.find((r) => r.name === result.name)?.expect.includes(result.status) ?? false

/** A plain-text table of the report. */
export function formatDrill(report: DrillReport): string {
  const rows = report.phases.map((p) => [
    p.name,
    String(p.summary.requests),
    String(p.summary.errors),
    p.summary.latencyMs.p50.toFixed(1),
    p.summary.latencyMs.p99.toFixed(1),
    p.summary.latencyMs.max.toFixed(0),
    p.detectionMs === undefined ? '' : String(Math.round(p.detectionMs)),
    `${((p.toMs - p.fromMs) / 1000).toFixed(1)}`,
    Object.entries(p.summary.byRequest)
      .filter(([, r]) => r.errors > 0)
      .map(([name, r]) => `${name} ${r.errors}`)
      .join(', '),
  ])
  const header = [
    'phase',
    'requests',
    'failed',
    'p50 ms',
    'p99 ms',
    'max ms',
    'detected ms',
    'seconds',
    'failed requests',
  ]
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)))
  const line = (cells: string[]) =>
    cells
      .map((c, i) =>
        i === 0 || i === header.length - 1 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number),
      )
      .join('  ')
  return [
    `${report.balancer}, ${report.ratePerSecond} req/s (reads and idempotent writes over TLS + HTTP/2):`,
    line(header),
    ...rows.map(line),
  ].join('\n')
}
