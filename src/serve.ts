// `pganalytics serve`: open the stores, listen at once (so /livez answers and /readyz says 503
// while migrations run), migrate under the advisory lock, then mark ready.
// SIGTERM/SIGINT: /readyz turns 503 at once and every response says `Connection: close`, so load
// balancers and keep-alive clients move away; requests that still arrive are served, not
// refused, for PGA_SHUTDOWN_DELAY at least (a second signal cuts it short). Then, once nothing
// is in flight (or PGA_SHUTDOWN_GRACE has passed) the listener closes, letting the last
// responses flush, then pools close and the process exits 0.
import { systemAudit } from './audit/events.ts'
import { closePasswordHashing, usePasswordHasher } from './auth/passwords.ts'
import { prepareFirstAdmin } from './auth/service.ts'
import { ssoContextFrom } from './auth/sso/context.ts'
import type { Config } from './config.ts'
import { buildDeps } from './deps.ts'
import { registerSelfInstance } from './instances/service.ts'
import { runMigrations } from './platform/db/migrations.ts'
import type { Logger } from './platform/log.ts'
import type { HttpServer, Runtime } from './runtime/runtime.ts'
import { createServingApp } from './serving-app.ts'
import type { BuildInfo } from './system/build-info.ts'

/** Where the self-monitored store lives, as shown on its instance. */
function storeAddress(config: Config): { host: string; port: number } {
  if (config.store.kind === 'embedded') return { host: 'embedded', port: 5432 }
  const url = new URL(config.store.url)
  return { host: url.hostname || 'localhost', port: Number(url.port || 5432) }
}

/** Milliseconds per start-up step, for the ready log line (bench/startup.ts reads them):
 * `process` is from exec to serveCommand (runtime start, module evaluation, configuration). */
function startupPhases(started: number) {
  const spent: Record<string, number> = { process: Math.round(started) }
  let last = started
  return {
    mark(step: string) {
      const now = performance.now()
      spent[step] = Math.round(now - last)
      last = now
    },
    done: () => spent,
  }
}

/**
 * Starts `steps` in the background once `after` resolves, one after another: side by side, each
 * opened store connections of its own, all competing with the first requests for the CPU. A step
 * that fails is logged and tried again every `retryMs` (in the background) while the next ones
 * start. stop() starts nothing more (no step, no retry); a start under way is for its part's own
 * stop() to wait for (Collector.stop does).
 */
function startAfterReady(
  log: Logger,
  steps: [name: string, start: () => Promise<void> | void][],
  after: Promise<void>,
  retryMs = 30_000,
): { stop(): void } {
  let stopping = false
  const retries = new Set<() => void>()
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer)
        retries.delete(wake)
        resolve()
      }
      const timer = setTimeout(wake, ms)
      retries.add(wake)
    })
  const failed = (name: string, error: unknown) =>
    log.error(`could not start the ${name}; trying again in ${retryMs / 1000} s`, { error: String(error) })
  const retry = async (name: string, start: () => Promise<void> | void) => {
    while (!stopping) {
      await pause(retryMs)
      if (stopping) return
      try {
        return await start()
      } catch (error) {
        if (!stopping) failed(name, error)
      }
    }
  }
  void (async () => {
    await after
    for (const [name, start] of steps) {
      if (stopping) return
      try {
        await start()
      } catch (error) {
        if (stopping) return
        failed(name, error)
        void retry(name, start)
      }
    }
  })()
  return {
    stop() {
      stopping = true
      for (const wake of [...retries]) wake()
    },
  }
}

/** The next SIGTERM or SIGINT, or undefined once `ms` have passed without one (never, without
 * `ms`). The listeners go once it resolves: a signal after that takes the default action. */
function signalWithin(ms?: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const onTerm = () => done('SIGTERM')
    const onInt = () => done('SIGINT')
    const timer = ms === undefined ? undefined : setTimeout(() => done(undefined), ms)
    const done = (signal: string | undefined) => {
      clearTimeout(timer)
      process.off('SIGTERM', onTerm)
      process.off('SIGINT', onInt)
      resolve(signal)
    }
    process.on('SIGTERM', onTerm)
    process.on('SIGINT', onInt)
  })
}

/** Serves until a shutdown signal; resolves with the exit code. */
export async function serveCommand(options: {
  config: Config
  log: Logger
  runtime: Runtime
  build: BuildInfo
}): Promise<number> {
  const { config, log, runtime } = options
  const started = performance.now()
  const phases = startupPhases(started)
  await usePasswordHasher(runtime.passwordHasher())
  const deps = await buildDeps(config, { log, assets: runtime.assets, build: options.build })
  phases.mark('deps')
  let server: HttpServer | undefined
  try {
    server = await runtime.serve(createServingApp(deps).fetch, {
      host: config.http.host,
      port: config.http.port,
    })
    phases.mark('listen')
    // The files load while the store answers which migrations it has.
    await runMigrations(deps.db.sql, runtime.assets.migrations(), log)
    phases.mark('migrations')
    await deps.keys.start({ maintenance: true })
    phases.mark('keys')
    if (
      config.collector.selfMonitor &&
      (await registerSelfInstance({ db: deps.db.sql }, storeAddress(config)))
    )
      log.info('registered the store as a monitored instance (self-monitoring)', {
        name: 'pganalytics-store',
      })
    const setup = await prepareFirstAdmin(
      { db: deps.db.sql, settings: deps.auth.accountSettings },
      config.auth.firstAdmin,
      log,
    )
    if (setup) {
      // Printed, never logged: the token creates the first administrator (once).
      process.stderr.write(
        `\n  No users yet. Create the first administrator with:\n` +
          `    POST /api/v1/auth/setup {"token": "${setup.setupToken}", "email": ..., "password": ...}\n` +
          `  (or set PGA_ADMIN_EMAIL and PGA_ADMIN_PASSWORD). The token works once.\n\n`,
      )
      log.warn('no users yet: a one-time setup token was printed to the console')
    }
    if (config.sso.providersFile) {
      // With its YAML parser, only when a providers file is configured.
      const { applyProvidersFileWithLease } = await import('./auth/sso/file-config.ts')
      const applied = await applyProvidersFileWithLease(
        ssoContextFrom(deps, systemAudit('identity-providers-file')),
        {
          path: config.sso.providersFile,
          env: process.env,
          log,
          holder: deps.replicaId,
        },
      )
      log.info('identity providers file applied', { file: config.sso.providersFile, ...applied })
    }
    phases.mark('accounts')
    // Before ready: revoked access must stop on this replica as soon as it serves.
    deps.auth.cacheEpoch.start()
    await deps.backup.prepare()
    phases.mark('backup')
  } catch (error) {
    await server?.close(1000)
    await deps.close()
    await closePasswordHashing()
    throw error
  }
  deps.lifecycle.markReady()
  // Readiness needs the store migrated, the keyring and the accounts; what only works in the
  // background starts after it, so a restart serves again without waiting for partition upkeep:
  // once /readyz has said so (to a balancer or the kubelet: about 40 ms sooner when the upkeep
  // does not share the first answer's CPU), or after a second without a probe.
  const background = startAfterReady(
    log,
    [
      // The first three start at once (their loops and timers run on their own); the collector's
      // start waits for partition upkeep.
      ['audit sealer', () => deps.auditSealer.start()],
      ['directory sync', () => (config.sso.syncEnabled ? deps.auth.ssoSync.start() : undefined)],
      ['backup scheduling', () => deps.backup.schedule({ run: config.backup.enabled })],
      ['collector', () => deps.collector.start()],
    ],
    deps.lifecycle.readinessReported(1000),
  )
  const base = `http://${config.http.host.includes(':') ? `[${config.http.host}]` : config.http.host}:${server.port}`
  log.info('pganalytics ready', {
    url: base,
    docs: `${base}/docs`,
    metrics: `${base}/metrics`,
    store: deps.db.kind,
    state: deps.state.kind,
    version: options.build.version,
    revision: options.build.revision,
    runtime: options.build.runtime,
    readyMs: Math.round(performance.now() - started),
    startupMs: phases.done(),
  })

  const signal = (await signalWithin()) as string
  deps.lifecycle.startDraining()
  const delayMs = config.http.shutdownDelayMs
  log.info('draining', {
    signal,
    inFlight: deps.lifecycle.inFlight,
    delayMs,
    graceMs: config.http.shutdownGraceMs,
  })
  // An idle replica would otherwise exit within milliseconds, before the balancer's checks have
  // seen /readyz 503: requests it then sends meet a closed port, and one sent on a keep-alive
  // connection as it closes cannot be retried unless idempotent.
  if (delayMs > 0) {
    const cutShortBy = await signalWithin(delayMs)
    if (cutShortBy) log.info('shutdown delay cut short', { signal: cutShortBy })
  }
  const graceEnds = performance.now() + config.http.shutdownGraceMs
  const drained = await deps.lifecycle.waitForIdle(config.http.shutdownGraceMs)
  if (!drained)
    log.warn('shutdown grace elapsed with requests still in flight', { inFlight: deps.lifecycle.inFlight })
  // Responses whose handler has returned may still be on their way out: give them the rest of
  // the grace (at least a second) before connections are forced shut.
  await server.close(Math.max(1000, graceEnds - performance.now()))
  // Nothing more starts; a start still under way is waited for (up to the rest of the grace) by
  // its part's stop, then the pools close, ending a query that still waits.
  background.stop()
  await deps.collector.stop(Math.max(1000, graceEnds - performance.now()))
  await deps.close(Math.min(5000, Math.max(1000, graceEnds - performance.now())))
  await closePasswordHashing()
  log.info('stopped', { drained })
  return 0
}
