// `pganalytics collect`: the collector alone, for deployments that run collection apart from the
// API (as pgwatch is collector-only). It loads only what collection needs (store, state store,
// keyring, collector) and answers /livez, /readyz and /metrics; no API, no sign-in, no audit
// sealer, no backups. Instances come from the store the API writes; leases in the state store
// share them with other replicas, so it needs the same DATABASE_URL and REDIS_URL as `serve`
// (with PGA_COLLECTOR_ENABLED=false on the API replicas when only collect replicas collect).
import { hostname } from 'node:os'
import { type Config, ConfigError } from '../config.ts'
import { type Problem, problemType } from '../http/errors.ts'
import { HostPolicy } from '../instances/host-policy.ts'
import { loadMasterKeys } from '../keys/master-key.ts'
import { KeyService } from '../keys/service.ts'
import { openDatabase } from '../platform/db/database.ts'
import { type Migration, runMigrations } from '../platform/db/migrations.ts'
import type { Logger } from '../platform/log.ts'
import { prometheusContentType } from '../platform/metrics/registry.ts'
import { createStateStore } from '../platform/state/create-state-store.ts'
import type { Runtime } from '../runtime/runtime.ts'
import type { BuildInfo } from '../system/build-info.ts'
import { checkHealth } from '../system/health.ts'
import { Lifecycle } from '../system/lifecycle.ts'
import { createServiceMetrics } from '../system/service-metrics.ts'
import { Collector } from './service.ts'

const json = (body: unknown, status: number, type = 'application/json') =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': type } })

const problem = (path: string, status: number, code: string, title: string, detail: string) =>
  json(
    { type: problemType(code), title, status, detail, code, instance: path } satisfies Problem,
    status,
    'application/problem+json',
  )

/** What collect needs from its runtime: no embedded store, docs or SAML files. */
export type CollectRuntime = Pick<Runtime, 'serve'> & { migrations(): Promise<Migration[]> }

/** Collects until a shutdown signal; resolves with the exit code. */
export async function collectCommand(options: {
  config: Config
  log: Logger
  runtime: CollectRuntime
  build: BuildInfo
}): Promise<number> {
  const { config, log, runtime, build } = options
  // The embedded store belongs to the one `serve` process that opens it.
  if (config.store.kind !== 'postgres')
    throw new ConfigError([
      { variable: 'DATABASE_URL', expected: 'the store of the API replicas (collect has no embedded store)' },
    ])
  if (!config.collector.enabled)
    throw new ConfigError([
      { variable: 'PGA_COLLECTOR_ENABLED', expected: 'true for collect (it collects nothing otherwise)' },
    ])
  const masterKeys = await loadMasterKeys(config, log)
  const replica = `${hostname()}:${process.pid}:${crypto.randomUUID().slice(0, 8)}`
  const db = await openDatabase(config.store, { log })
  const state = createStateStore(config.state, {
    onConnectionError: (error) =>
      log.warn('state store connection error (retrying)', {
        error: { name: error.name, message: error.message },
      }),
  })
  if (config.state.kind === 'memory')
    log.warn(
      'IN-MEMORY STATE: leases live in this process; run one collector per store, or set REDIS_URL and PGA_COLLECTOR_ENABLED=false on the API replicas.',
    )
  const lifecycle = new Lifecycle(Date.now())
  const metrics = createServiceMetrics({ db, state, lifecycle, build })
  const keys = new KeyService({ db, state, log, ...masterKeys, holder: replica })
  const collector = new Collector({
    config: config.collector,
    hostPolicy: new HostPolicy(config.instances.hosts),
    db,
    state,
    keyring: () => keys.keyring(),
    log,
    registry: metrics.registry,
    replica,
  })

  const fetch = async (request: Request): Promise<Response> => {
    const path = new URL(request.url).pathname
    const route = ['/livez', '/readyz', '/metrics'].includes(path)
    if (!route)
      return problem(
        path,
        404,
        'not_found',
        'Not found',
        'The collector serves /livez, /readyz and /metrics.',
      )
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      const response = problem(path, 405, 'method_not_allowed', 'Method not allowed', `${path} serves GET.`)
      response.headers.set('Allow', 'GET, HEAD')
      return response
    }
    if (path === '/livez') return json({ status: 'ok' }, 200)
    if (path === '/readyz') {
      if (lifecycle.phase !== 'ready') return json({ ready: false, phase: lifecycle.phase }, 503)
      const report = await checkHealth({ db, state })
      const ready = report.status === 'ok'
      return json({ ready, phase: lifecycle.phase, checks: report.checks }, ready ? 200 : 503)
    }
    if (!config.metrics.enabled)
      return problem(path, 404, 'not_found', 'Not found', 'Metrics are disabled (PGA_METRICS_ENABLED=false).')
    return new Response(await metrics.registry.render(), {
      status: 200,
      headers: { 'Content-Type': prometheusContentType },
    })
  }

  const close = async () => {
    metrics.stop()
    await collector.stop(config.http.shutdownGraceMs)
    await keys.stop()
    await Promise.allSettled([state.close(), db.close()])
  }
  let server: Awaited<ReturnType<Runtime['serve']>> | undefined
  try {
    server = await runtime.serve(fetch, { host: config.http.host, port: config.http.port })
    // The same migrations under the same lock as `serve`: whichever starts first applies them.
    await runMigrations(db.sql, await runtime.migrations(), log)
    await keys.start({ maintenance: false })
    await collector.start()
  } catch (error) {
    await server?.close(1000)
    await close()
    throw error
  }
  lifecycle.markReady()
  log.info('pganalytics collector ready', {
    url: `http://${config.http.host.includes(':') ? `[${config.http.host}]` : config.http.host}:${server.port}`,
    replica,
    version: build.version,
    revision: build.revision,
  })
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'))
    process.once('SIGINT', () => resolve('SIGINT'))
  })
  lifecycle.startDraining()
  log.info('stopping', { signal })
  await server.close(1000)
  await close()
  log.info('stopped')
  return 0
}
