// In-process cost per request of the pieces of the service's HTTP path, without sockets, so a gap
// between the service and bare Hono can be attributed: middleware, the zod-openapi validator,
// the config-check handler (loadConfig + redact), JSON serialisation.
// Each figure is the median over 5 batches (after a warm-up) of microseconds per call of
// app.fetch(new Request(...)) + reading the body. "service" rows use the real createApp with
// inert store/state (none of the measured routes touch them); the other apps are built from
// bench/service-pieces.ts. It prints figures, it asserts nothing.
// Run: node_modules/.bin/bun bench/http-breakdown.ts [--json]   (bench/http.ts runs it pinned)
import { Hono } from 'hono'
import { createApp } from '../src/app.ts'
import { loadConfig } from '../src/config.ts'
import type { AppDeps } from '../src/deps.ts'
import { createLogger, redact } from '../src/platform/log.ts'
import { createServingApp } from '../src/serving-app.ts'
import { buildInfo } from '../src/system/build-info.ts'
import { checkProposedConfig } from '../src/system/config-check.ts'
import { Lifecycle } from '../src/system/lifecycle.ts'
import { ConfigCheckRequestSchema } from '../src/system/schemas.ts'
import { createServiceMetrics } from '../src/system/service-metrics.ts'
import { configCheckBody, getJsonApp, postApp, serviceMiddleware } from './service-pieces.ts'

export type BreakdownRow = { name: string; usPerOp: number; note: string }

function inert(path: string): unknown {
  return new Proxy(() => {}, {
    get: (_target, property) => (property === 'then' ? undefined : inert(`${path}.${String(property)}`)),
    apply: () => {
      throw new Error(`${path}() is not available in the in-process benchmark`)
    },
  })
}

const get = (path: string) => new Request(`http://127.0.0.1${path}`)
const post = (path: string) =>
  new Request(`http://127.0.0.1${path}`, {
    method: 'POST',
    body: configCheckBody,
    // As over a socket: bodyLimit trusts Content-Length instead of re-buffering the stream.
    headers: {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(configCheckBody)),
    },
  })

async function measure(fn: () => unknown, batch: number): Promise<number> {
  for (let i = 0; i < batch; i++) await fn()
  const perOp: number[] = []
  for (let round = 0; round < 5; round++) {
    const started = performance.now()
    for (let i = 0; i < batch; i++) await fn()
    perOp.push(((performance.now() - started) * 1000) / batch)
  }
  perOp.sort((a, b) => a - b)
  return perOp[2] as number
}

function serviceApp() {
  const lifecycle = new Lifecycle(Date.now())
  lifecycle.markReady()
  const db = inert('deps.db') as AppDeps['db']
  const state = inert('deps.state') as AppDeps['state']
  const metrics = createServiceMetrics({ db, state, lifecycle, build: buildInfo })
  const deps: AppDeps = {
    config: loadConfig({ PGA_LOG_LEVEL: 'warn' }),
    log: createLogger({ level: 'warn', write: () => {} }),
    clock: { now: () => Date.now(), monotonic: () => performance.now() },
    db,
    state,
    lifecycle,
    metrics,
    build: buildInfo,
    assets: inert('deps.assets') as AppDeps['assets'],
    keys: inert('deps.keys') as AppDeps['keys'],
    collector: inert('deps.collector') as AppDeps['collector'],
    auditSealer: inert('deps.auditSealer') as AppDeps['auditSealer'],
    auditArchiver: null,
    auth: inert('deps.auth') as AppDeps['auth'],
    backup: inert('deps.backup') as AppDeps['backup'],
    hostPolicy: inert('deps.hostPolicy') as AppDeps['hostPolicy'],
    checkpointSink: null,
    replicaId: 'bench',
  }
  return { app: createApp(deps), serving: createServingApp(deps), stop: () => metrics.stop() }
}

export async function runBreakdown(): Promise<BreakdownRow[]> {
  const service = serviceApp()
  const bare = new Hono().get('/', (c) => c.text('ok')).post('/json', async (c) => c.json(await c.req.json()))
  const getNone = getJsonApp([])
  const getRequestId = getJsonApp(serviceMiddleware(['requestId']))
  const getObserve = getJsonApp(serviceMiddleware(['requestId', 'observeRequests']))
  const getSecure = getJsonApp(serviceMiddleware(['securityHeaders']))
  const getBodyLimit = getJsonApp(serviceMiddleware(['bodyLimit']))
  const validatorEcho = postApp([], { validator: true, handler: false })
  const validatorHandler = postApp([], { validator: true, handler: true })

  const parsedBody = JSON.parse(configCheckBody) as { env: Record<string, string> }
  const result = checkProposedConfig(parsedBody)
  const parsedConfig = loadConfig(parsedBody.env)
  const text = async (response: Response | Promise<Response>) => (await response).text()

  const cases: [string, string, () => unknown, number][] = [
    ['bare Hono GET /', 'text "ok"', () => text(bare.fetch(get('/'))), 20_000],
    ['bare Hono POST /json', 'c.req.json() + c.json() echo', () => text(bare.fetch(post('/json'))), 20_000],
    [
      'service GET /livez',
      'createApp: full middleware stack',
      () => text(service.app.fetch(get('/livez'))),
      20_000,
    ],
    [
      'serving app GET /livez',
      'answered before the pipeline (constant answer)',
      () => text(service.serving.fetch(get('/livez'), { peerAddress: '127.0.0.1' })),
      20_000,
    ],
    [
      'service GET /api/v1/version',
      'full stack, small JSON',
      () => text(service.app.fetch(get('/api/v1/version'))),
      20_000,
    ],
    [
      'service POST /api/v1/config/check',
      'full stack + validator + handler',
      () => text(service.app.fetch(post('/api/v1/config/check'))),
      10_000,
    ],
    [
      'Hono GET JSON, no middleware',
      'reference for the 4 rows below',
      () => text(getNone.fetch(get('/'))),
      20_000,
    ],
    ['  + requestId', 'uuid + log.child', () => text(getRequestId.fetch(get('/'))), 20_000],
    [
      '  + requestId + observeRequests',
      'route label, histogram, access log',
      () => text(getObserve.fetch(get('/'))),
      20_000,
    ],
    ['  + securityHeaders', '7 response headers', () => text(getSecure.fetch(get('/'))), 20_000],
    ['  + bodyLimit', '', () => text(getBodyLimit.fetch(get('/'))), 20_000],
    [
      'zod-openapi route, echo',
      'json body + validation, no middleware',
      () => text(validatorEcho.fetch(post('/'))),
      10_000,
    ],
    [
      'zod-openapi route + checkProposedConfig',
      'real handler, no middleware',
      () => text(validatorHandler.fetch(post('/'))),
      10_000,
    ],
    [
      'ConfigCheckRequestSchema.safeParse',
      'the body schema alone',
      () => ConfigCheckRequestSchema.safeParse(parsedBody),
      50_000,
    ],
    [
      'checkProposedConfig',
      'handler: loadConfig + redact + warnings',
      () => checkProposedConfig(parsedBody),
      20_000,
    ],
    ['loadConfig', 'the env parser, part of the handler', () => loadConfig(parsedBody.env), 20_000],
    ['redact(config)', 'part of the handler', () => redact(parsedConfig), 50_000],
    ['JSON.stringify(result)', 'response serialisation', () => JSON.stringify(result), 50_000],
  ]
  const rows: BreakdownRow[] = []
  for (const [name, note, fn, batch] of cases) {
    rows.push({ name, usPerOp: Math.round((await measure(fn, batch)) * 100) / 100, note })
  }
  service.stop()
  return rows
}

if (import.meta.main) {
  const rows = await runBreakdown()
  if (process.argv.includes('--json')) {
    process.stdout.write(`${JSON.stringify(rows)}\n`)
  } else {
    for (const row of rows)
      console.log(`${row.name.padEnd(42)} ${row.usPerOp.toFixed(2).padStart(8)} µs  ${row.note}`)
  }
}
