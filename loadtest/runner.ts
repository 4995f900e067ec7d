// Runs a load scenario (loadtest/scenarios/*.json) against a target with vegeta and returns
// every request's result and their summary. The public API of loadtest/: the failover bench and
// tests build on runScenario, summarize (over any window) and prepareTarget / cleanupTarget.
// Each request is tagged with its number in the URL fragment (`#<seq>`): vegeta records the URL
// as given but never sends the fragment, so results map back to requests exactly.
import { randomUUID } from 'node:crypto'
import {
  buildRequest,
  mixCycle,
  placeholderKeys,
  placeholdersOf,
  requestValues,
  type Scenario,
} from './scenario.ts'
import { type LoadTarget, newRunId } from './setup.ts'
import { type LoadSummary, type RequestResult, summarize } from './summary.ts'
import { type AttackOutcome, attack, type VegetaResult, type VegetaTarget } from './vegeta.ts'

export type { RequestSpec, Scenario } from './scenario.ts'
export { loadScenario, parseScenario, scenarioNames } from './scenario.ts'
export { callApi, cleanupTarget, type LoadTarget, prepareTarget } from './setup.ts'
export {
  formatSummary,
  isError,
  type LatencySummary,
  type LoadSummary,
  type RequestResult,
  summarize,
} from './summary.ts'
export { vegetaPath } from './vegeta.ts'

export type RunOverrides = {
  rate?: number
  /** 0: run until `signal` aborts. */
  durationSeconds?: number
  workers?: number
  signal?: AbortSignal
  /** Called with each result as it arrives (results also come back at the end). */
  onResult?: (result: RequestResult) => void
  /** The vegeta executable (default: $VEGETA, .tools/bin/vegeta, or vegeta on PATH). */
  vegeta?: string
}

export type RunOutcome = {
  results: RequestResult[]
  summary: LoadSummary
  runId: string
  /** Why the attack ended: its duration, the abort signal, or the watchdog. */
  stoppedBy: AttackOutcome['stoppedBy']
  /** Targets handed to vegeta (it reads ahead, so some are never sent). */
  targetsWritten: number
}

/** vegeta's RFC 3339 timestamp (nanoseconds) as fractional epoch milliseconds. */
export function timestampMs(timestamp: string): number {
  const whole = Date.parse(timestamp)
  const fraction = /\.(\d+)/.exec(timestamp)?.[1] ?? ''
  return fraction.length > 3 ? whole + Number(`0.${fraction.slice(3)}`) : whole
}

/** Placeholders the scenario's requests use that only the target's set-up data can fill. */
function missingSetup(scenario: Scenario, target: LoadTarget): string[] {
  const fixed = new Set(['uuid', 'seq', 'runId', ...Object.keys(scenario.vars)])
  const used = placeholdersOf(scenario.requests.map((r) => [r.params, r.query, r.body ?? null]))
  const known = new Set(placeholderKeys(scenario))
  return used.filter((key) => known.has(key) && !fixed.has(key) && !target.setup[key]?.length)
}

/**
 * Runs the scenario against the target: vegeta at the scenario's rate (or `overrides.rate`;
 * 0 = as fast as `workers` go) for its duration, each request built from the weighted mix with
 * its placeholders filled, a bearer token and, for writes that ask for it, a fresh
 * Idempotency-Key. Resolves when vegeta has stopped (end of duration or abort) with every
 * result and the summary against the scenario's thresholds; no vegeta process outlives it.
 */
export async function runScenario(
  scenario: Scenario,
  target: LoadTarget,
  overrides: RunOverrides = {},
): Promise<RunOutcome> {
  const missing = missingSetup(scenario, target)
  if (missing.length)
    throw new Error(`set-up values missing for ${missing.map((k) => `{{${k}}}`).join(', ')}`)
  const runId = target.runId ?? newRunId()
  const baseUrl = target.baseUrl.replace(/\/+$/, '')
  const cycle = mixCycle(scenario.requests.map((r) => r.weight))
  const requestOfSeq: number[] = []

  const nextTargets = (count: number): VegetaTarget[] => {
    const batch: VegetaTarget[] = []
    for (let i = 0; i < count; i++) {
      const seq = requestOfSeq.length
      const index = cycle[seq % cycle.length] as number
      const spec = scenario.requests[index]
      if (!spec) throw new Error(`no request ${index}`)
      const values = requestValues(scenario, { seq, runId, uuid: randomUUID(), setup: target.setup })
      const built = buildRequest(spec, values, { token: target.token, idempotencyKey: randomUUID() })
      const header = Object.fromEntries(Object.entries(built.headers).map(([k, v]) => [k, [v]]))
      batch.push({
        method: built.method,
        url: `${baseUrl}${built.pathAndQuery}#${seq}`,
        header,
        ...(built.body !== undefined ? { body: Buffer.from(built.body).toString('base64') } : {}),
      })
      requestOfSeq.push(index)
    }
    return batch
  }

  const results: RequestResult[] = []
  const onResult = (raw: VegetaResult) => {
    const hash = raw.url.lastIndexOf('#')
    const seq = hash >= 0 ? Number(raw.url.slice(hash + 1)) : Number.NaN
    const spec = Number.isInteger(seq) ? scenario.requests[requestOfSeq[seq] ?? -1] : undefined
    const result: RequestResult = {
      // A result without a target of ours is vegeta failing to read one: an error, not hidden.
      name: spec?.name ?? 'vegeta',
      method: raw.method || spec?.method || '',
      startedAtMs: timestampMs(raw.timestamp),
      latencyMs: raw.latency / 1e6,
      status: raw.code,
      ...(raw.error ? { error: raw.error } : {}),
      ...(spec ? { seq } : {}),
    }
    results.push(result)
    overrides.onResult?.(result)
  }

  const outcome = await attack({
    rate: overrides.rate ?? scenario.rate,
    durationSeconds: overrides.durationSeconds ?? scenario.durationSeconds,
    workers: overrides.workers ?? scenario.workers,
    ...(scenario.maxWorkers !== undefined
      ? { maxWorkers: Math.max(scenario.maxWorkers, overrides.workers ?? 0) }
      : {}),
    timeoutSeconds: scenario.timeoutSeconds,
    ...(target.caFile ? { caFile: target.caFile } : {}),
    ...(target.http2 !== undefined ? { http2: target.http2 } : {}),
    ...(overrides.signal ? { signal: overrides.signal } : {}),
    ...(overrides.vegeta ? { vegeta: overrides.vegeta } : {}),
    nextTargets,
    onResult,
  })
  results.sort((a, b) => a.startedAtMs - b.startedAtMs)
  return {
    results,
    summary: summarize(results, scenario),
    runId,
    stoppedBy: outcome.stoppedBy,
    targetsWritten: outcome.targetsWritten,
  }
}
