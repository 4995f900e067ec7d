// The k6 side of a scenario script: options from the scenario document, a setup() that does what
// the runner's prepareTarget does (sign in or take TOKEN, create an API key, create the set-up
// instances), one request of the weighted mix per iteration, and a teardown() that deletes the
// instances tagged with the run id and revokes the key (KEEP=1 keeps them).
// Environment (k6 run -e NAME=value): BASE_URL (required), TOKEN or EMAIL + PASSWORD,
// INSTANCE_IDS (comma-separated, instead of creating set-up instances), SMOKE=1, RATE, DURATION,
// WORKERS, KEEP=1.
import { fail } from 'k6'
import crypto from 'k6/crypto'
import exec from 'k6/execution'
import http from 'k6/http'
import {
  buildRequest,
  fillTemplate,
  k6Options,
  loadTag,
  mixCycle,
  requestValues,
  runShape,
} from './scenario.js'

/**
 * @typedef {import('./scenario.js').Scenario} Scenario
 * @typedef {{ baseUrl: string, token: string, runId: string, setup: Record<string, string[]>,
 *   apiKeyId: string }} SetupData
 */

/** A random UUID (version 4) from k6's random bytes. */
function uuid() {
  const bytes = new Uint8Array(crypto.randomBytes(16))
  bytes[6] = (bytes[6] & 0x0f) | 0x40
  bytes[8] = (bytes[8] & 0x3f) | 0x80
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

/** @param {string[]} list */
const pickRandom = (list) => list[Math.floor(Math.random() * list.length)]

/**
 * @param {string} method
 * @param {string} url
 * @param {{ token?: string, json?: unknown, idempotencyKey?: string }} options
 */
function callApi(method, url, options) {
  /** @type {Record<string, string>} */
  const headers = { Accept: 'application/json' }
  if (options.token) headers.Authorization = `Bearer ${options.token}`
  if (options.json !== undefined) headers['Content-Type'] = 'application/json'
  if (options.idempotencyKey) headers['Idempotency-Key'] = options.idempotencyKey
  const body = options.json === undefined ? null : JSON.stringify(options.json)
  return http.request(method, url, body, { headers, tags: { kind: 'setup' } })
}

/**
 * @param {import('k6/http').RefinedResponse<'text'>} res
 * @param {number} status
 * @param {string} what
 * @returns {Record<string, unknown>}
 */
function expectStatus(res, status, what) {
  if (res.status !== status) fail(`${what}: HTTP ${res.status} ${String(res.body).slice(0, 500)}`)
  return /** @type {Record<string, unknown>} */ (JSON.parse(String(res.body)))
}

/**
 * The pieces a scenario script exports, built from its scenario document.
 * @param {Scenario} scenario
 */
export function scenarioScript(scenario) {
  const shape = runShape(scenario, __ENV)
  const cycle = mixCycle(scenario.requests.map((r) => r.weight))
  const timeout = `${scenario.timeoutSeconds ?? 10}s`

  /** @returns {SetupData} */
  function setup() {
    const baseUrl = (__ENV.BASE_URL || fail('set BASE_URL, e.g. -e BASE_URL=https://host:8443')).replace(
      /\/+$/,
      '',
    )
    const runId = uuid().slice(0, 8)
    let token = __ENV.TOKEN || ''
    let apiKeyId = ''
    if (!token) {
      if (!__ENV.EMAIL || !__ENV.PASSWORD) fail('set TOKEN, or EMAIL and PASSWORD')
      const login = expectStatus(
        callApi('POST', `${baseUrl}/api/v1/auth/login`, {
          json: { email: __ENV.EMAIL, password: __ENV.PASSWORD },
        }),
        200,
        'sign-in',
      )
      const user = /** @type {{ role?: string } | undefined} */ (login.user)
      if (typeof login.access_token !== 'string' || !user?.role)
        fail('sign-in returned no tokens (MFA? use TOKEN)')
      const access = String(login.access_token)
      const key = expectStatus(
        callApi('POST', `${baseUrl}/api/v1/api-keys`, {
          token: access,
          json: { name: `loadtest ${scenario.name} ${runId} (k6)`, role: user?.role, expiresInDays: 1 },
        }),
        201,
        'creating an API key',
      )
      token = String(key.key)
      apiKeyId = String(key.id)
      callApi('POST', `${baseUrl}/api/v1/auth/logout`, { token: access })
    }
    /** @type {Record<string, string[]>} */
    const setupValues = {}
    const instances = scenario.setup?.instances
    if (__ENV.INSTANCE_IDS) setupValues.instanceId = __ENV.INSTANCE_IDS.split(',').filter(Boolean)
    else if (instances) {
      setupValues.instanceId = []
      for (let seq = 0; seq < instances.count; seq++) {
        const values = requestValues(scenario, { seq, runId, uuid: uuid(), setup: {} }, pickRandom)
        const created = expectStatus(
          callApi('POST', `${baseUrl}/api/v1/instances?test=false`, {
            token,
            json: fillTemplate(instances.body, values),
            idempotencyKey: uuid(),
          }),
          201,
          'creating a set-up instance',
        )
        setupValues.instanceId.push(String(created.id))
      }
    }
    return { baseUrl, token, runId, setup: setupValues, apiKeyId }
  }

  /** One iteration: the next request of the weighted mix. @param {SetupData} data */
  function iteration(data) {
    const seq = exec.scenario.iterationInTest
    const spec = scenario.requests[cycle[seq % cycle.length]]
    const values = requestValues(
      scenario,
      { seq, runId: data.runId, uuid: uuid(), setup: data.setup },
      pickRandom,
    )
    const built = buildRequest(spec, values, { token: data.token, idempotencyKey: uuid() })
    http.request(built.method, `${data.baseUrl}${built.pathAndQuery}`, built.body ?? null, {
      headers: built.headers,
      tags: { name: built.name, kind: loadTag },
      responseCallback: http.expectedStatuses(...built.expect),
      timeout,
    })
  }

  /** Deletes the instances tagged with the run id and revokes the key setup() created. @param {SetupData} data */
  function teardown(data) {
    if (__ENV.KEEP === '1') return
    const list = callApi('GET', `${data.baseUrl}/api/v1/instances`, { token: data.token })
    if (list.status === 200) {
      const items = /** @type {{ items: { id: string, tags?: Record<string, string> }[] }} */ (
        JSON.parse(String(list.body))
      ).items
      for (const instance of items)
        if (instance.tags?.loadtest === data.runId)
          callApi('DELETE', `${data.baseUrl}/api/v1/instances/${instance.id}`, {
            token: data.token,
            idempotencyKey: uuid(),
          })
    }
    if (data.apiKeyId)
      callApi('DELETE', `${data.baseUrl}/api/v1/api-keys/${data.apiKeyId}`, { token: data.token })
  }

  return { options: k6Options(scenario, shape), setup, iteration, teardown }
}
