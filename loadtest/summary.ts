// Results of a load run and their summary: which results are errors, quantiles, rates, the
// scenario's thresholds checked, and a plain-text table. Pure functions, no I/O.
import type { Scenario } from './scenario.ts'

/** One request of a run, as the load tool saw it. */
export type RequestResult = {
  /** The scenario request it came from (`vegeta` for a failure of the load tool itself). */
  name: string
  method: string
  /** When it was sent, epoch milliseconds (fractional). */
  startedAtMs: number
  latencyMs: number
  /** HTTP status; 0 = no response (refused, reset, timed out). */
  status: number
  /** The load tool's error text, when any (vegeta also reports non-2xx/3xx statuses here). */
  error?: string
  /** Number of the request in its run, in the order the targets were generated. */
  seq?: number
}

export type LatencySummary = { p50: number; p95: number; p99: number; max: number }

export type LoadSummary = {
  requests: number
  /** Requests sent per second over the window (vegeta's "rate"). */
  ratePerSecond: number
  /** Requests that succeeded per second over the window (vegeta's "throughput"). */
  throughputPerSecond: number
  errors: number
  errorRate: number
  statusCounts: Record<string, number>
  latencyMs: LatencySummary
  thresholdsPassed: boolean
  thresholdFailures: string[]
  /** Length of the window the rates are over, in seconds. */
  durationSeconds: number
  /** The same figures per scenario request. */
  byRequest: Record<string, { requests: number; errors: number; latencyMs: LatencySummary }>
}

/** Whether a result counts as an error: no response, or a status the request does not expect
 * (5xx, 409, 422, ... in these scenarios), or a transport error after an expected success. */
export function isError(result: RequestResult, scenario: Scenario): boolean {
  const spec = scenario.requests.find((r) => r.name === result.name)
  if (!spec || result.status === 0 || !spec.expect.includes(result.status)) return true
  return Boolean(result.error) && result.status >= 200 && result.status < 400
}

/** Nearest-rank quantile of sorted values (0 for none). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)))
  return sorted[rank - 1] as number
}

function latencies(results: readonly RequestResult[]): LatencySummary {
  const sorted = results.map((r) => r.latencyMs).sort((a, b) => a - b)
  return {
    p50: quantile(sorted, 0.5),
    p95: quantile(sorted, 0.95),
    p99: quantile(sorted, 0.99),
    max: sorted.length ? (sorted[sorted.length - 1] as number) : 0,
  }
}

/** Summary of results (those started inside the window, when given) against the scenario's
 * thresholds. Without a window, rates are over the span of the results: sent per second from the
 * first to the last start, succeeded per second from the first start to the last completion. */
export function summarize(
  results: readonly RequestResult[],
  scenario: Scenario,
  window?: { fromMs: number; toMs: number },
): LoadSummary {
  const inWindow = window
    ? results.filter((r) => r.startedAtMs >= window.fromMs && r.startedAtMs < window.toMs)
    : results
  const errorFlags = inWindow.map((r) => isError(r, scenario))
  const errors = errorFlags.filter(Boolean).length
  const statusCounts: Record<string, number> = {}
  for (const r of inWindow) statusCounts[String(r.status)] = (statusCounts[String(r.status)] ?? 0) + 1

  let sendSeconds: number
  let doneSeconds: number
  if (window) {
    sendSeconds = doneSeconds = Math.max(0, window.toMs - window.fromMs) / 1000
  } else {
    // Loops, not Math.min(...): a long run has more results than a call may take arguments.
    let first = Number.POSITIVE_INFINITY
    let lastStart = Number.NEGATIVE_INFINITY
    let lastEnd = Number.NEGATIVE_INFINITY
    for (const r of inWindow) {
      first = Math.min(first, r.startedAtMs)
      lastStart = Math.max(lastStart, r.startedAtMs)
      lastEnd = Math.max(lastEnd, r.startedAtMs + r.latencyMs)
    }
    sendSeconds = inWindow.length > 1 ? (lastStart - first) / 1000 : 0
    doneSeconds = inWindow.length > 0 ? (lastEnd - first) / 1000 : 0
  }
  const requests = inWindow.length
  const perSecond = (count: number, seconds: number) => (seconds > 0 ? count / seconds : 0)

  const byRequest: LoadSummary['byRequest'] = {}
  const names = [...new Set([...scenario.requests.map((r) => r.name), ...inWindow.map((r) => r.name)])]
  for (const name of names) {
    const own = inWindow.filter((r) => r.name === name)
    if (own.length === 0 && !scenario.requests.some((r) => r.name === name)) continue
    byRequest[name] = {
      requests: own.length,
      errors: own.filter((r) => isError(r, scenario)).length,
      latencyMs: latencies(own),
    }
  }

  const summary: LoadSummary = {
    requests,
    ratePerSecond: perSecond(requests, sendSeconds),
    throughputPerSecond: perSecond(requests - errors, doneSeconds),
    errors,
    errorRate: requests ? errors / requests : 0,
    statusCounts,
    latencyMs: latencies(inWindow),
    thresholdsPassed: true,
    thresholdFailures: [],
    durationSeconds: window ? sendSeconds : doneSeconds,
    byRequest,
  }
  summary.thresholdFailures = thresholdFailures(summary, scenario)
  summary.thresholdsPassed = summary.thresholdFailures.length === 0
  return summary
}

function thresholdFailures(summary: LoadSummary, scenario: Scenario): string[] {
  const { p95Ms, p99Ms, maxErrorRate } = scenario.thresholds
  const failures: string[] = []
  if (summary.requests === 0) failures.push('no requests')
  if (summary.latencyMs.p95 > p95Ms) failures.push(`p95 ${round(summary.latencyMs.p95)} ms > ${p95Ms} ms`)
  if (summary.latencyMs.p99 > p99Ms) failures.push(`p99 ${round(summary.latencyMs.p99)} ms > ${p99Ms} ms`)
  if (summary.errorRate > maxErrorRate)
    failures.push(
      `error rate ${percent(summary.errorRate)} > ${percent(maxErrorRate)} (${summary.errors} errors)`,
    )
  return failures
}

const round = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2))
const percent = (n: number) => `${(n * 100).toFixed(n > 0 && n < 0.001 ? 4 : 2)}%`

/** The summary as a plain-text table: one row per request, a total, then the thresholds. */
export function formatSummary(summary: LoadSummary, scenario: Scenario): string {
  const header = ['request', 'requests', 'errors', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms']
  const row = (name: string, s: { requests: number; errors: number; latencyMs: LatencySummary }) => [
    name,
    String(s.requests),
    String(s.errors),
    round(s.latencyMs.p50),
    round(s.latencyMs.p95),
    round(s.latencyMs.p99),
    round(s.latencyMs.max),
  ]
  const rows = [
    header,
    ...Object.entries(summary.byRequest).map(([name, s]) => row(name, s)),
    row('all', summary),
  ]
  const widths = header.map((_, i) => Math.max(...rows.map((r) => (r[i] as string).length)))
  const line = (r: string[]) =>
    r
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] as number) : cell.padStart(widths[i] as number)))
      .join('  ')
  const { p95Ms, p99Ms, maxErrorRate } = scenario.thresholds
  return [
    `scenario ${scenario.name}: ${summary.requests} requests in ${summary.durationSeconds.toFixed(1)} s, ` +
      `${summary.ratePerSecond.toFixed(1)} req/s sent, ${summary.throughputPerSecond.toFixed(1)} req/s succeeded`,
    `statuses: ${Object.entries(summary.statusCounts)
      .map(([status, n]) => `${status}×${n}`)
      .join(' ')}`,
    '',
    line(rows[0] as string[]),
    ...rows.slice(1).map(line),
    '',
    `thresholds (p95 ≤ ${p95Ms} ms, p99 ≤ ${p99Ms} ms, errors ≤ ${percent(maxErrorRate)}): ` +
      (summary.thresholdsPassed ? 'passed' : `FAILED: ${summary.thresholdFailures.join('; ')}`),
  ].join('\n')
}
