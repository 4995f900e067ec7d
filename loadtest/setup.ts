// The shared set-up and clean-up of a load run, driven by the scenario's `setup` data: sign in,
// create an API key (a long-lived token; the sign-in session is ended again), create the
// instances the scenario needs; afterwards delete every instance tagged with the run's id and
// revoke the key. HTTP through node:http(s) so a CA file works on Bun and Node alike.
import { randomBytes, randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { fillTemplate, instanceIdKey, requestValues, type Scenario } from './scenario.ts'

/** Where and as whom a scenario runs, with the values its placeholders take. */
export type LoadTarget = {
  baseUrl: string
  token: string
  caFile?: string
  http2?: boolean
  /** Values of set-up placeholders, e.g. { instanceId: [...] }. */
  setup: Record<string, string[]>
  /** Id of the run, {{runId}} in templates; instances created carry the tag loadtest=<runId>. */
  runId?: string
  /** The API key prepareTarget created (cleanupTarget revokes it). */
  apiKeyId?: string
}

export type Reply = { status: number; text: string; json: unknown }

/** A random run id: 8 hex digits (fits instance names and tags). */
export const newRunId = () => randomBytes(4).toString('hex')

/** One JSON request with a bearer token and an optional CA; never throws on an HTTP status. */
export async function callApi(
  baseUrl: string,
  method: string,
  path: string,
  options: {
    token?: string
    json?: unknown
    caFile?: string
    idempotencyKey?: string
    timeoutMs?: number
  } = {},
): Promise<Reply> {
  const url = new URL(path, baseUrl)
  const body = options.json === undefined ? undefined : JSON.stringify(options.json)
  const headers: Record<string, string> = { Accept: 'application/json' }
  if (options.token) headers.Authorization = `Bearer ${options.token}`
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json'
    headers['Content-Length'] = String(Buffer.byteLength(body))
  }
  if (options.idempotencyKey) headers['Idempotency-Key'] = options.idempotencyKey
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest
  const ca = options.caFile ? readFileSync(options.caFile) : undefined
  return new Promise<Reply>((resolve, reject) => {
    const req = send(
      url,
      { method, headers, ...(ca ? { ca } : {}), timeout: options.timeoutMs ?? 30_000 },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('error', reject)
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          let json: unknown = null
          try {
            json = text ? JSON.parse(text) : null
          } catch {
            json = null
          }
          resolve({ status: res.statusCode ?? 0, text, json })
        })
      },
    )
    req.on('timeout', () => req.destroy(new Error(`${method} ${url.href}: no answer within the timeout`)))
    req.on('error', reject)
    req.end(body)
  })
}

function expectStatus(reply: Reply, status: number, what: string): Record<string, unknown> {
  if (reply.status !== status) throw new Error(`${what}: HTTP ${reply.status} ${reply.text.slice(0, 500)}`)
  return (reply.json ?? {}) as Record<string, unknown>
}

/** Signs in (or takes the token given), creates an API key and the instances the scenario needs.
 * `options.setup` supplies set-up values instead (e.g. existing instance ids: nothing created). */
export async function prepareTarget(
  baseUrl: string,
  credentials: { email: string; password: string } | { token: string },
  scenario: Scenario,
  options: { caFile?: string; http2?: boolean; setup?: Record<string, string[]>; runId?: string } = {},
): Promise<LoadTarget> {
  const caFile = options.caFile
  const runId = options.runId ?? newRunId()
  const target: LoadTarget = {
    baseUrl: baseUrl.replace(/\/+$/, ''),
    token: '',
    setup: { ...(options.setup ?? {}) },
    runId,
    ...(caFile ? { caFile } : {}),
    ...(options.http2 !== undefined ? { http2: options.http2 } : {}),
  }
  if ('token' in credentials) {
    target.token = credentials.token
  } else {
    const login = expectStatus(
      await callApi(target.baseUrl, 'POST', '/api/v1/auth/login', {
        json: { email: credentials.email, password: credentials.password },
        caFile,
      }),
      200,
      'sign-in',
    )
    const access = login.access_token
    const user = login.user as { role?: string } | undefined
    if (typeof access !== 'string' || !user?.role)
      throw new Error('sign-in did not return tokens (MFA on this account? pass an API key with --token)')
    const key = expectStatus(
      await callApi(target.baseUrl, 'POST', '/api/v1/api-keys', {
        token: access,
        json: { name: `loadtest ${scenario.name} ${runId}`, role: user.role, expiresInDays: 1 },
        caFile,
      }),
      201,
      'creating an API key',
    )
    target.token = String(key.key)
    target.apiKeyId = String(key.id)
    await callApi(target.baseUrl, 'POST', '/api/v1/auth/logout', { token: access, caFile })
  }

  const instances = scenario.setup.instances
  if (instances && !target.setup[instanceIdKey]?.length) {
    const ids: string[] = []
    for (let seq = 0; seq < instances.count; seq++) {
      const values = requestValues(scenario, { seq, runId, uuid: randomUUID(), setup: {} })
      const created = expectStatus(
        await callApi(target.baseUrl, 'POST', '/api/v1/instances?test=false', {
          token: target.token,
          json: fillTemplate(instances.body, values),
          idempotencyKey: randomUUID(),
          caFile,
        }),
        201,
        'creating a set-up instance',
      )
      ids.push(String(created.id))
    }
    target.setup[instanceIdKey] = ids
  }
  return target
}

/** Deletes the instances tagged loadtest=<the target's runId> and revokes the API key that
 * prepareTarget created. Returns how many instances it deleted. */
export async function cleanupTarget(target: LoadTarget): Promise<{ instancesDeleted: number }> {
  const { baseUrl, token, caFile } = target
  let instancesDeleted = 0
  if (target.runId) {
    const list = expectStatus(
      await callApi(baseUrl, 'GET', '/api/v1/instances', { token, caFile }),
      200,
      'listing',
    )
    const items = (list.items ?? []) as { id: string; tags?: Record<string, string> }[]
    for (const instance of items.filter((i) => i.tags?.loadtest === target.runId)) {
      const reply = await callApi(baseUrl, 'DELETE', `/api/v1/instances/${instance.id}`, {
        token,
        caFile,
        idempotencyKey: randomUUID(),
      })
      if (reply.status === 204) instancesDeleted++
      else if (reply.status !== 404) expectStatus(reply, 204, `deleting instance ${instance.id}`)
    }
  }
  if (target.apiKeyId) {
    const reply = await callApi(baseUrl, 'DELETE', `/api/v1/api-keys/${target.apiKeyId}`, { token, caFile })
    if (reply.status !== 204 && reply.status !== 404) expectStatus(reply, 204, 'revoking the API key')
  }
  return { instancesDeleted }
}
