// Pure functions over a scenario document (loadtest/scenarios/*.json) for the k6 scripts: the
// k6 options (executor, thresholds) and the requests of the weighted mix. No k6 imports, so the
// tests can load this module in Node and compare it with loadtest/scenario.ts, which the vegeta
// runner uses: same cycle order, same placeholders, same requests.

/**
 * @typedef {'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'} Method
 * @typedef {{ name: string, method: Method, path: string, params?: Record<string, string>,
 *   query?: Record<string, string>, weight: number, body?: unknown, idempotencyKey?: boolean,
 *   expect?: number[] }} RequestSpec
 * @typedef {{ name: string, description: string, rate: number, durationSeconds: number,
 *   workers: number, maxWorkers?: number, timeoutSeconds?: number,
 *   smoke: { rate: number, durationSeconds: number },
 *   setup?: { instances?: { count: number, body: unknown } },
 *   vars?: Record<string, string[]>, requests: RequestSpec[],
 *   thresholds: { p95Ms: number, p99Ms: number, maxErrorRate: number } }} Scenario
 * @typedef {{ name: string, method: Method, pathAndQuery: string, headers: Record<string, string>,
 *   body?: string, expect: number[] }} BuiltRequest
 * @typedef {{ rate?: number, durationSeconds?: number, workers?: number }} RunShape
 */

const placeholderPattern = /\{\{([A-Za-z][A-Za-z0-9_]*)\}\}/g
const pathParamPattern = /\{([A-Za-z][A-Za-z0-9_]*)\}/g

/** Tag on the load requests (not the set-up ones); the thresholds only count those. */
export const loadTag = 'load'

/**
 * The rate, duration and workers of a run: the scenario's, the smoke run's with SMOKE=1, and
 * RATE / DURATION / WORKERS from the environment over both.
 * @param {Scenario} scenario
 * @param {Record<string, string | undefined>} env
 * @returns {{ rate: number, durationSeconds: number, workers: number }}
 */
export function runShape(scenario, env) {
  const smoke = env.SMOKE === '1' || env.SMOKE === 'true'
  /** @param {string | undefined} value @param {number} fallback */
  const number = (value, fallback) => (value === undefined || value === '' ? fallback : Number(value))
  return {
    rate: number(env.RATE, smoke ? scenario.smoke.rate : scenario.rate),
    durationSeconds: number(env.DURATION, smoke ? scenario.smoke.durationSeconds : scenario.durationSeconds),
    workers: number(env.WORKERS, scenario.workers),
  }
}

/**
 * k6 options for the scenario: a constant-arrival-rate executor at `rate` requests/s (each
 * iteration sends one request), or with rate 0 a constant-vus executor of `workers` VUs; the
 * thresholds on the load requests only: p95 and p99 of http_req_duration, and the error rate as
 * http_req_failed (each request marks only its `expect` statuses as success).
 * @param {Scenario} scenario
 * @param {{ rate: number, durationSeconds: number, workers: number }} shape
 * @returns {import('k6/options').Options}
 */
export function k6Options(scenario, shape) {
  const duration = `${shape.durationSeconds}s`
  /** @type {import('k6/options').Scenario} */
  const executor =
    shape.rate > 0
      ? {
          executor: 'constant-arrival-rate',
          rate: shape.rate,
          timeUnit: '1s',
          duration,
          preAllocatedVUs: shape.workers,
          maxVUs: Math.max(shape.workers, scenario.maxWorkers ?? shape.workers),
        }
      : { executor: 'constant-vus', vus: shape.workers, duration }
  const { p95Ms, p99Ms, maxErrorRate } = scenario.thresholds
  return {
    scenarios: { [scenario.name]: executor },
    thresholds: {
      [`http_req_duration{kind:${loadTag}}`]: [`p(95)<=${p95Ms}`, `p(99)<=${p99Ms}`],
      [`http_req_failed{kind:${loadTag}}`]: [`rate<=${maxErrorRate}`],
    },
    summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(95)', 'p(99)'],
    setupTimeout: '120s',
    teardownTimeout: '120s',
  }
}

/**
 * Smooth weighted round-robin: one cycle of request indexes, each `weight` times, spread evenly.
 * Request number n uses cycle[n % cycle.length] (as mixCycle in loadtest/scenario.ts).
 * @param {number[]} weights
 * @returns {number[]}
 */
export function mixCycle(weights) {
  const total = weights.reduce((a, b) => a + b, 0)
  const current = weights.map(() => 0)
  /** @type {number[]} */
  const cycle = []
  for (let step = 0; step < total; step++) {
    let best = 0
    for (let i = 0; i < weights.length; i++) {
      current[i] += weights[i]
      if (current[i] > current[best]) best = i
    }
    current[best] -= total
    cycle.push(best)
  }
  return cycle
}

/**
 * The value with every {{key}} in its strings replaced by values[key]; an unknown key throws.
 * @param {unknown} value
 * @param {Record<string, string>} values
 * @returns {unknown}
 */
export function fillTemplate(value, values) {
  if (typeof value === 'string')
    return value.replace(placeholderPattern, (_, /** @type {string} */ key) => {
      const replacement = values[key]
      if (replacement === undefined) throw new Error(`no value for placeholder {{${key}}}`)
      return replacement
    })
  if (Array.isArray(value)) return value.map((v) => fillTemplate(v, values))
  if (value && typeof value === 'object') {
    /** @type {Record<string, unknown>} */
    const out = {}
    for (const [k, v] of Object.entries(value)) out[k] = fillTemplate(v, values)
    return out
  }
  return value
}

/**
 * Values of one request's placeholders: uuid, seq, runId, and one pick of each list of the
 * scenario's vars and of the set-up data.
 * @param {Scenario} scenario
 * @param {{ seq: number, runId: string, uuid: string, setup: Record<string, string[]> }} context
 * @param {(list: string[]) => string} pick
 * @returns {Record<string, string>}
 */
export function requestValues(scenario, context, pick) {
  /** @type {Record<string, string>} */
  const values = { uuid: context.uuid, seq: String(context.seq), runId: context.runId }
  const lists = Object.assign({}, scenario.vars ?? {}, context.setup)
  for (const key of Object.keys(lists)) if (lists[key].length > 0) values[key] = pick(lists[key])
  return values
}

/**
 * Request `spec` with its placeholders filled (as buildRequest in loadtest/scenario.ts).
 * @param {RequestSpec} spec
 * @param {Record<string, string>} values
 * @param {{ token: string, idempotencyKey: string }} auth
 * @returns {BuiltRequest}
 */
export function buildRequest(spec, values, auth) {
  const params = spec.params ?? {}
  const path = spec.path.replace(pathParamPattern, (_, /** @type {string} */ param) =>
    encodeURIComponent(String(fillTemplate(params[param], values))),
  )
  const query = Object.entries(spec.query ?? {})
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(fillTemplate(v, values)))}`)
    .join('&')
  /** @type {Record<string, string>} */
  const headers = { Authorization: `Bearer ${auth.token}`, Accept: 'application/json' }
  /** @type {BuiltRequest} */
  const built = {
    name: spec.name,
    method: spec.method,
    pathAndQuery: query ? `${path}?${query}` : path,
    headers,
    expect: spec.expect ?? [200],
  }
  if (spec.body !== undefined) {
    headers['Content-Type'] = 'application/json'
    built.body = JSON.stringify(fillTemplate(spec.body, values))
  }
  if (spec.idempotencyKey) headers['Idempotency-Key'] = auth.idempotencyKey
  return built
}
