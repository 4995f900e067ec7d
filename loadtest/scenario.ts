// Load scenarios as data: the zod schema of loadtest/scenarios/*.json, loading them, and the
// pieces both load drivers share in meaning (loadtest/runner.ts here, loadtest/k6/lib/*.js in
// k6): placeholders in templates, the weighted request order, and building one request.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { z } from 'zod'

export const scenariosDir = join(import.meta.dirname, 'scenarios')

/** Placeholders every template may use; `{{<key>}}` of the set-up data and of `vars` too. */
export const builtinPlaceholders = ['uuid', 'seq', 'runId'] as const
/** The set-up key that `setup.instances` fills with the ids of the instances it creates. */
export const instanceIdKey = 'instanceId'

const placeholderPattern = /\{\{([A-Za-z][A-Za-z0-9_]*)\}\}/g
const pathParamPattern = /\{([A-Za-z][A-Za-z0-9_]*)\}/g
const methods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const

export const RequestSpecSchema = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9-]{0,47}$/, 'kebab-case, up to 48 characters'),
    method: z.enum(methods),
    path: z
      .string()
      .regex(/^\/[A-Za-z0-9_./{}-]*$/, 'an OpenAPI path template such as /api/v1/instances/{id}'),
    params: z.record(z.string(), z.string()).default({}),
    query: z.record(z.string(), z.string()).default({}),
    weight: z.number().int().min(1).max(1000),
    body: z.json().optional(),
    idempotencyKey: z.boolean().default(false),
    expect: z.array(z.number().int().min(100).max(599)).min(1).default([200]),
  })
  .strict()
  .superRefine((request, ctx) => {
    const inPath = [...request.path.matchAll(pathParamPattern)].map((m) => m[1] as string)
    for (const param of inPath)
      if (!(param in request.params)) ctx.addIssue({ code: 'custom', message: `no value for {${param}}` })
    for (const param of Object.keys(request.params))
      if (!inPath.includes(param))
        ctx.addIssue({ code: 'custom', message: `params.${param} is not in the path ${request.path}` })
    if (request.method === 'GET' && (request.body !== undefined || request.idempotencyKey))
      ctx.addIssue({ code: 'custom', message: 'a GET carries no body and no Idempotency-Key' })
  })
export type RequestSpec = z.infer<typeof RequestSpecSchema>

export const ScenarioSchema = z
  .object({
    $schema: z.string().optional(),
    name: z.string().regex(/^[a-z][a-z0-9-]{0,47}$/),
    description: z.string().min(1),
    /** Requests per second; 0: as fast as `workers` concurrent workers go. */
    rate: z.number().int().min(0),
    durationSeconds: z.number().int().min(1),
    /** Workers (vegeta) / pre-allocated VUs (k6); with rate 0 exactly this many. */
    workers: z.number().int().min(1).max(10_000),
    /** Upper bound of workers / VUs when the rate needs more (rate > 0 only). */
    maxWorkers: z.number().int().min(1).max(10_000).optional(),
    timeoutSeconds: z.number().int().min(1).max(300).default(10),
    /** The short run `npm test` does (the full run is the documented command). */
    smoke: z.object({ rate: z.number().int().min(1), durationSeconds: z.number().int().min(1) }).strict(),
    setup: z
      .object({
        /** Instances created before the run (never tested, enabled: false); their ids are {{instanceId}}. */
        instances: z
          .object({ count: z.number().int().min(1).max(1000), body: z.json() })
          .strict()
          .optional(),
      })
      .strict()
      .default({}),
    /** Fixed lists of values: `{{key}}` picks one at random per request. */
    vars: z.record(z.string().regex(/^[A-Za-z][A-Za-z0-9_]*$/), z.array(z.string()).min(1)).default({}),
    requests: z.array(RequestSpecSchema).min(1),
    thresholds: z
      .object({
        p95Ms: z.number().positive(),
        p99Ms: z.number().positive(),
        /** Largest share of errors (0..1): status 0, 5xx, or any status not in a request's `expect`. */
        maxErrorRate: z.number().min(0).max(1),
      })
      .strict(),
  })
  .strict()
  .superRefine((scenario, ctx) => {
    const names = scenario.requests.map((r) => r.name)
    for (const name of new Set(names))
      if (names.filter((n) => n === name).length > 1)
        ctx.addIssue({ code: 'custom', message: `request name ${name} is used twice` })
    if (scenario.maxWorkers !== undefined && scenario.maxWorkers < scenario.workers)
      ctx.addIssue({ code: 'custom', message: 'maxWorkers is below workers' })
    const known = new Set(placeholderKeys(scenario))
    for (const request of scenario.requests)
      for (const key of placeholdersOf([request.params, request.query, request.body ?? null]))
        if (!known.has(key))
          ctx.addIssue({ code: 'custom', message: `${request.name}: unknown placeholder {{${key}}}` })
    for (const key of placeholdersOf(scenario.setup.instances?.body ?? null))
      if (!(builtinPlaceholders as readonly string[]).includes(key) && !(key in scenario.vars))
        ctx.addIssue({ code: 'custom', message: `setup.instances.body: unknown placeholder {{${key}}}` })
  })
export type Scenario = z.infer<typeof ScenarioSchema>

/** Placeholders a scenario's requests may use: the built-ins, the set-up keys and the vars. */
export function placeholderKeys(scenario: Pick<Scenario, 'setup' | 'vars'>): string[] {
  return [
    ...builtinPlaceholders,
    ...(scenario.setup.instances ? [instanceIdKey] : []),
    ...Object.keys(scenario.vars),
  ]
}

/** Every `{{key}}` in a JSON value (strings, nested arrays and objects). */
export function placeholdersOf(value: unknown): string[] {
  const found = new Set<string>()
  const walk = (v: unknown) => {
    if (typeof v === 'string') for (const m of v.matchAll(placeholderPattern)) found.add(m[1] as string)
    else if (Array.isArray(v)) v.forEach(walk)
    else if (v && typeof v === 'object') Object.values(v).forEach(walk)
  }
  walk(value)
  return [...found]
}

/** The value with every `{{key}}` in its strings replaced by values[key] (unknown keys throw). */
export function fillTemplate<T>(value: T, values: Record<string, string>): T {
  const fill = (v: unknown): unknown => {
    if (typeof v === 'string')
      return v.replace(placeholderPattern, (_, key: string) => {
        const replacement = values[key]
        if (replacement === undefined) throw new Error(`no value for placeholder {{${key}}}`)
        return replacement
      })
    if (Array.isArray(v)) return v.map(fill)
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fill(x)]))
    return v
  }
  return fill(value) as T
}

/** Smooth weighted round-robin: one cycle of request indexes, each appearing `weight` times,
 * spread evenly (weights 3,1 → 0,0,1,0). Request number n uses cycle[n % cycle.length]. The k6
 * scripts compute the same cycle (loadtest/k6/lib/scenario.js). */
export function mixCycle(weights: readonly number[]): number[] {
  const total = weights.reduce((a, b) => a + b, 0)
  const current = weights.map(() => 0)
  const cycle: number[] = []
  for (let step = 0; step < total; step++) {
    let best = 0
    weights.forEach((weight, i) => {
      current[i] = (current[i] as number) + weight
      if ((current[i] as number) > (current[best] as number)) best = i
    })
    current[best] = (current[best] as number) - total
    cycle.push(best)
  }
  return cycle
}

export type BuiltRequest = {
  name: string
  method: string
  /** Path and query, no base URL. */
  pathAndQuery: string
  headers: Record<string, string>
  body?: string
}

/** The values of one request's placeholders. `pick` chooses one of a list (random by default). */
export function requestValues(
  scenario: Pick<Scenario, 'vars'>,
  context: { seq: number; runId: string; uuid: string; setup: Record<string, string[]> },
  pick: (list: readonly string[]) => string = (list) =>
    list[Math.floor(Math.random() * list.length)] as string,
): Record<string, string> {
  const values: Record<string, string> = {
    uuid: context.uuid,
    seq: String(context.seq),
    runId: context.runId,
  }
  for (const [key, list] of Object.entries({ ...scenario.vars, ...context.setup }))
    if (list.length > 0) values[key] = pick(list)
  return values
}

/** Request `spec` with its placeholders filled: method, path and query, headers, JSON body. */
export function buildRequest(
  spec: RequestSpec,
  values: Record<string, string>,
  auth: { token: string; idempotencyKey: string },
): BuiltRequest {
  const path = spec.path.replace(pathParamPattern, (_, param: string) =>
    encodeURIComponent(fillTemplate(spec.params[param] as string, values)),
  )
  const query = Object.entries(spec.query)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(fillTemplate(v, values))}`)
    .join('&')
  const headers: Record<string, string> = {
    Authorization: `Bearer ${auth.token}`,
    Accept: 'application/json',
  }
  const built: BuiltRequest = {
    name: spec.name,
    method: spec.method,
    pathAndQuery: query ? `${path}?${query}` : path,
    headers,
  }
  if (spec.body !== undefined) {
    headers['Content-Type'] = 'application/json'
    built.body = JSON.stringify(fillTemplate(spec.body, values))
  }
  if (spec.idempotencyKey) headers['Idempotency-Key'] = auth.idempotencyKey
  return built
}

/** Parses and validates a scenario document; errors name the file and the field. */
export function parseScenario(json: unknown, source = 'scenario'): Scenario {
  const parsed = ScenarioSchema.safeParse(json)
  if (!parsed.success)
    throw new Error(
      `${source} is not a valid scenario:\n${parsed.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`).join('\n')}`,
    )
  return parsed.data
}

/** The scenario loadtest/scenarios/<name>.json, validated. */
export function loadScenario(name: string): Scenario {
  if (!/^[a-z][a-z0-9-]*$/.test(name)) throw new Error(`not a scenario name: ${name}`)
  const file = join(scenariosDir, `${name}.json`)
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    throw new Error(`no scenario ${name}; scenarios: ${scenarioNames().join(', ')}`)
  }
  const scenario = parseScenario(JSON.parse(text), file)
  if (scenario.name !== name) throw new Error(`${file} names itself ${scenario.name}`)
  return scenario
}

/** Names of the scenarios in loadtest/scenarios/. */
export function scenarioNames(): string[] {
  return readdirSync(scenariosDir)
    .filter((f) => f.endsWith('.json') && !f.startsWith('_'))
    .map((f) => f.slice(0, -'.json'.length))
    .sort()
}
