// Composition root: builds every adapter and service once, from the frozen config.
// Embedded defaults are announced loudly: they are for one replica only.
import { hostname } from 'node:os'
import { AuditArchiver } from './audit/archiver.ts'
import { registerAuditMetrics } from './audit/audit-metrics.ts'
import { type CheckpointSink, FileCheckpointSink } from './audit/checkpoint-sink.ts'
import { systemAudit } from './audit/events.ts'
import { AuditSealer } from './audit/sealer.ts'
import { ApiKeyResolver } from './auth/api-keys.ts'
import { AuthCacheEpoch } from './auth/cache-epoch.ts'
import { SignInThrottle } from './auth/rate-limit.ts'
import { Sessions } from './auth/sessions.ts'
import { ssoContextFrom } from './auth/sso/context.ts'
import { DirectorySyncScheduler } from './auth/sso/directory-sync-scheduler.ts'
import { useSamlSchemaFiles } from './auth/sso/xml-schema.ts'
import type { AccountSettings } from './auth/users.ts'
import { Backups } from './backup/backups.ts'
import { Collector } from './collector/service.ts'
import type { Config } from './config.ts'
import { HostPolicy } from './instances/host-policy.ts'
import { loadMasterKeys } from './keys/master-key.ts'
import { KeyService, type KeyServiceOptions } from './keys/service.ts'
import { openBlobStore } from './platform/blob/open.ts'
import { type Clock, systemClock } from './platform/clock.ts'
import { type Database, openDatabase } from './platform/db/database.ts'
import type { Logger } from './platform/log.ts'
import { createStateStore } from './platform/state/create-state-store.ts'
import type { StateStore } from './platform/state/state-store.ts'
import type { RuntimeAssets } from './runtime/runtime.ts'
import type { BuildInfo } from './system/build-info.ts'
import { Lifecycle } from './system/lifecycle.ts'
import { createServiceMetrics, type ServiceMetrics } from './system/service-metrics.ts'

export type AppDeps = {
  config: Config
  log: Logger
  clock: Clock
  db: Database
  state: StateStore
  lifecycle: Lifecycle
  metrics: ServiceMetrics
  build: BuildInfo
  assets: RuntimeAssets
  keys: KeyService
  collector: Collector
  auditSealer: AuditSealer
  auth: {
    sessions: Sessions
    accountSettings: AccountSettings
    throttle: SignInThrottle
    apiKeys: ApiKeyResolver
    /** Drops the cached users and keys on every replica after access is taken away. */
    cacheEpoch: AuthCacheEpoch
    /** Scheduled LDAP directory syncs (src/auth/sso/ldap-sync.ts). */
    ssoSync: DirectorySyncScheduler
  }
  /** Null when no archive store is configured (entries stay in the database). */
  auditArchiver: AuditArchiver | null
  /** Where checkpoints are exported outside the database (none: rollback goes undetected). */
  checkpointSink: CheckpointSink | null
  /** This replica's identity as a lease holder. */
  replicaId: string
  backup: Backups
  /** Which hosts instances may be on, checked on every connection to one (PGA_INSTANCE_HOSTS_*). */
  hostPolicy: HostPolicy
}

export type OpenDeps = AppDeps & {
  /** Closes the state store and the store pool (waiting up to timeoutMs for running queries). */
  close(timeoutMs?: number): Promise<void>
}

/** Calls fn at most once per intervalMs: a Redis outage reports every reconnect attempt. */
function throttled<T>(intervalMs: number, fn: (value: T) => void): (value: T) => void {
  let last = Number.NEGATIVE_INFINITY
  return (value) => {
    const now = performance.now()
    if (now - last < intervalMs) return
    last = now
    fn(value)
  }
}

/** Opens the store and the state store and wires the services. Does not run migrations. */
export async function buildDeps(
  config: Config,
  options: { log: Logger; assets: RuntimeAssets; build: BuildInfo; clock?: Clock; keys?: KeyServiceOptions },
): Promise<OpenDeps> {
  const { log } = options
  // First, before anything is opened: a missing or unreadable master key stops start-up here.
  const masterKeys = await loadMasterKeys(config, log)
  const replicaId = `${hostname()}:${process.pid}:${crypto.randomUUID().slice(0, 8)}`
  const clock = options.clock ?? systemClock
  if (config.store.kind === 'embedded') {
    log.warn(
      'EMBEDDED STORE: PGlite in the data directory; single replica only. Set DATABASE_URL for production.',
      {
        dataDir: config.store.dataDir,
      },
    )
  }
  if (config.state.kind === 'memory') {
    log.warn(
      'IN-MEMORY STATE: sessions, leases and rate limits live in this process; single replica only. Set REDIS_URL for production.',
    )
  }
  const db = await openDatabase(config.store, { log, embeddedAssets: options.assets.embeddedStore })
  let state: StateStore
  try {
    state = createStateStore(config.state, {
      onConnectionError: throttled(10_000, (error) =>
        log.warn('state store connection error (retrying)', {
          error: { name: error.name, message: error.message },
        }),
      ),
      onCacheUnavailable: (reason) =>
        log.info('Redis refused client tracking: every authenticated request reads the session from Redis', {
          reason,
        }),
    })
  } catch (error) {
    await db.close()
    throw error
  }
  const lifecycle = new Lifecycle(clock.now())
  const keys = new KeyService({
    db,
    state,
    log,
    ...masterKeys,
    holder: replicaId,
    ...(options.keys ? { options: options.keys } : {}),
  })
  const metrics = createServiceMetrics({ db, state, lifecycle, build: options.build })
  registerAuditMetrics(metrics.registry, db.sql)
  const checkpointSink = config.audit.checkpointDir
    ? new FileCheckpointSink(config.audit.checkpointDir)
    : null
  if (!checkpointSink)
    log.warn(
      'AUDIT CHECKPOINTS NOT EXPORTED: set PGA_AUDIT_CHECKPOINT_DIR so a rollback of the database can be detected.',
    )
  const auditArchiver = config.audit.archive
    ? new AuditArchiver({
        db: db.sql,
        blob: openBlobStore(config.audit.archive),
        keyring: () => keys.keyring(),
        log,
        bundleEntries: config.audit.bundleEntries,
      })
    : null
  if (!auditArchiver)
    log.warn('AUDIT ARCHIVING OFF: set PGA_AUDIT_ARCHIVE_URL to move old audit entries to object storage.')
  const auditSealer = new AuditSealer({
    db: db.sql,
    state,
    keyring: () => keys.keyring(),
    log,
    holder: replicaId,
    // PGlite has one backend behind a socket server: no second connection to listen on.
    listen: db.kind !== 'embedded',
    ...(checkpointSink ? { sink: checkpointSink } : {}),
    ...(auditArchiver
      ? { archiver: { run: () => auditArchiver.run(), intervalMs: config.audit.archiveIntervalMs } }
      : {}),
  })
  // samlify validates every SAML message against the schemas with this (files from the runtime).
  useSamlSchemaFiles(options.assets.samlSchemaFile)
  const auth = {
    sessions: new Sessions(
      { db: db.sql, state, keyring: () => keys.keyring() },
      {
        issuer: config.auth.issuer,
        audience: config.auth.audience,
        accessTokenTtlMs: config.auth.accessTokenTtlMs,
        idleTimeoutMs: config.auth.idleTimeoutMs,
        absoluteTimeoutMs: config.auth.absoluteTimeoutMs,
        userCacheMs: config.auth.userCacheMs,
      },
    ),
    accountSettings: { argon2: config.auth.argon2, password: { minLength: config.auth.passwordMinLength } },
    throttle: new SignInThrottle(state, config.auth.rateLimits, clock),
    apiKeys: new ApiKeyResolver(db.sql, config.auth.userCacheMs),
    cacheEpoch: undefined as unknown as AuthCacheEpoch,
    ssoSync: undefined as unknown as DirectorySyncScheduler,
  }
  auth.cacheEpoch = new AuthCacheEpoch(
    state,
    () => {
      auth.apiKeys.forget()
      auth.sessions.forgetAllUsers()
    },
    log,
  )
  const hostPolicy = new HostPolicy(config.instances.hosts)
  const collector = new Collector({
    config: config.collector,
    hostPolicy,
    db,
    state,
    keyring: () => keys.keyring(),
    log,
    registry: metrics.registry,
    replica: replicaId,
  })
  const backup = new Backups({
    db: db.sql,
    state,
    log,
    config: config.backup,
    keys,
    replicaId,
    connectTimeoutMs: config.collector.connectTimeoutMs,
    hostPolicy,
  })
  const deps: OpenDeps = {
    config,
    hostPolicy,
    log,
    clock,
    backup,
    db,
    state,
    lifecycle,
    metrics,
    build: options.build,
    assets: options.assets,
    keys,
    collector,
    auditSealer,
    auditArchiver,
    auth,
    checkpointSink,
    replicaId,
    async close(timeoutMs = 5000) {
      metrics.stop()
      await backup.stop(timeoutMs)
      auth.cacheEpoch.stop()
      await auth.ssoSync.stop()
      await collector.stop(timeoutMs)
      await auditSealer.stop()
      await keys.stop()
      await Promise.allSettled([state.close(), db.close(timeoutMs)])
    },
  }
  auth.ssoSync = new DirectorySyncScheduler({
    context: () => ssoContextFrom(deps, systemAudit('directory-sync')),
    holder: replicaId,
    log,
  })
  return deps
}
