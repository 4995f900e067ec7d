// Service verbs for monitored instances: create (testing the connection first unless asked not
// to), list, get, update, delete, and test a saved instance's connection (recording what the
// probe found). Passwords go through the keyring, bound to the instance's row.
import type postgres from 'postgres'
import { type AuditContext, type AuditEvent, recordAuditEvent, systemAudit } from '../audit/events.ts'
import { metricGroups } from '../collector/catalog/index.ts'
import { ConflictError, NotFoundError, ServiceError } from '../http/errors.ts'
import type { Keyring } from '../keys/keyring.ts'
import { type Db, withTransaction } from '../platform/db/database.ts'
import { type ConnectionFailure, type ConnectionTarget, testConnection } from './connection-test.ts'
import type { HostPolicy } from './host-policy.ts'
import { type Capabilities, probeCapabilities } from './probe.ts'
import type { InstanceRow } from './repo.ts'
import * as repo from './repo.ts'

/** The instance could not be reached or used; `code` names the reason (connection_refused, ...),
 * or instance_host_not_allowed when the host policy refused to connect at all. */
export class ConnectionFailedError extends ServiceError {
  constructor(failure: ConnectionFailure) {
    if (failure.reason === 'host_not_allowed')
      super('instance_host_not_allowed', 422, 'Host not allowed', failure.detail)
    else super(`connection_${failure.reason}`, 422, 'Connection test failed', failure.detail)
  }
}

export type InstanceContext = {
  db: Db
  keyring: Keyring
  connectTimeoutMs?: number
  /** Which hosts instances may be on (PGA_INSTANCE_HOSTS_ALLOW/_DENY). */
  hostPolicy: HostPolicy
  /** Who changes instances: every change is recorded with its audit event in one transaction. */
  audit?: AuditContext
}

/** What reading instances (and their decrypted connection settings) needs. */
export type InstanceReader = Pick<InstanceContext, 'db' | 'keyring'>

/** Records the event of an instance change inside its transaction. */
async function audited(
  audit: AuditContext | undefined,
  tx: Db,
  event: Omit<AuditEvent, 'resourceType'> & { resourceId: string },
): Promise<void> {
  await recordAuditEvent(tx, audit ?? systemAudit('instances'), { ...event, resourceType: 'instance' })
}

export type InstanceInput = {
  name: string
  host: string
  port: number
  database: string
  username: string
  password?: string | undefined
  sslmode: ConnectionTarget['sslmode']
  sslRootCert?: string | undefined
  tags: Record<string, string>
  enabled: boolean
  /** Overrides only; absent groups keep the catalog default. */
  intervals: Partial<Record<string, number>>
  includeDatabases: string[]
  excludeDatabases: string[]
  collectQueryText: boolean
  replicationUsername?: string | undefined
  replicationPassword?: string | undefined
  walStreaming: boolean
}
export type InstanceUpdate = Partial<
  Omit<InstanceInput, 'password' | 'sslRootCert' | 'replicationUsername' | 'replicationPassword'>
> & {
  password?: string | null | undefined
  sslRootCert?: string | null | undefined
  replicationUsername?: string | null | undefined
  replicationPassword?: string | null | undefined
}

/** What the API shows: no password, no certificate body. */
export function presentInstance(row: InstanceRow) {
  const { passwordEnc, replicationPasswordEnc, sslRootCert, probedAt, createdAt, updatedAt, ...rest } = row
  return {
    ...rest,
    hasPassword: passwordEnc !== null,
    hasReplicationPassword: replicationPasswordEnc !== null,
    hasSslRootCert: sslRootCert !== null,
    // Stored as JSON: no undefined values survive.
    intervals: row.intervals as Record<string, number>,
    effectiveIntervals: effectiveIntervals(row.intervals),
    probedAt: probedAt?.toISOString() ?? null,
    createdAt: createdAt.toISOString(),
    updatedAt: updatedAt.toISOString(),
  }
}

/** Seconds between collections of each group for an instance: its overrides over the catalog. */
export function effectiveIntervals(overrides: Partial<Record<string, number>>): Record<string, number> {
  return Object.fromEntries(metricGroups.map((g) => [g.name, overrides[g.name] ?? g.defaultIntervalSeconds]))
}

const passwordField = (id: string) => ({ table: 'pga_instances', column: 'password_enc', rowKey: id })
const replicationPasswordField = (id: string) => ({
  table: 'pga_instances',
  column: 'replication_password_enc',
  rowKey: id,
})

async function probeOrThrow(ctx: InstanceContext, target: ConnectionTarget): Promise<Capabilities> {
  const result = await testConnection(target, {
    hostPolicy: ctx.hostPolicy,
    ...(ctx.connectTimeoutMs === undefined ? {} : { timeoutMs: ctx.connectTimeoutMs }),
  })
  if (!result.ok) throw new ConnectionFailedError(result.failure)
  return result.capabilities
}

function nameTaken(error: unknown, name: string): never {
  if ((error as { code?: string }).code === '23505')
    throw new ConflictError('instance_name_taken', `An instance named ${name} exists.`)
  throw error
}

export async function createInstance(ctx: InstanceContext, input: InstanceInput, options: { test: boolean }) {
  // Saved untested or not, a host the policy refuses as written is refused now.
  ctx.hostPolicy.checkWritten(input.host)
  const capabilities = options.test ? await probeOrThrow(ctx, input) : null
  const id = crypto.randomUUID()
  const { replicationPassword, ...fields } = input
  const row = await withTransaction(ctx.db, async (tx) => {
    const inserted = await repo.insertInstance(tx, {
      ...fields,
      id,
      passwordEnc:
        input.password === undefined ? null : await ctx.keyring.encrypt(input.password, passwordField(id)),
      replicationUsername: input.replicationUsername ?? null,
      replicationPasswordEnc:
        replicationPassword === undefined
          ? null
          : await ctx.keyring.encrypt(replicationPassword, replicationPasswordField(id)),
      sslRootCert: input.sslRootCert ?? null,
      isSelf: false,
      capabilities,
      probedAt: capabilities ? new Date() : null,
    })
    await audited(ctx.audit, tx, {
      eventType: 'instance.created',
      resourceId: id,
      action: 'create',
      newValues: presentInstance(inserted),
    })
    return inserted
  }).catch((error) => nameTaken(error, input.name))
  return presentInstance(row)
}

export async function listInstances(ctx: InstanceReader) {
  return (await repo.listInstances(ctx.db)).map(presentInstance)
}

async function load(ctx: InstanceReader, id: string): Promise<InstanceRow> {
  const row = await repo.findInstance(ctx.db, id)
  if (!row) throw new NotFoundError(`Instance ${id} does not exist.`)
  return row
}

export async function getInstance(ctx: InstanceReader, id: string) {
  return presentInstance(await load(ctx, id))
}

/** The connection settings of a saved instance, password decrypted. */
async function targetOf(ctx: InstanceReader, row: InstanceRow): Promise<ConnectionTarget> {
  return {
    host: row.host,
    port: row.port,
    database: row.database,
    username: row.username,
    password:
      row.passwordEnc === null
        ? undefined
        : await ctx.keyring.decrypt(row.passwordEnc, passwordField(row.id)),
    sslmode: row.sslmode,
    sslRootCert: row.sslRootCert ?? undefined,
  }
}

export async function updateInstance(ctx: InstanceContext, id: string, update: InstanceUpdate) {
  if (update.host !== undefined) ctx.hostPolicy.checkWritten(update.host)
  const current = await load(ctx, id)
  const { password, sslRootCert, replicationPassword, ...plain } = update
  const merged: InstanceRow = {
    ...current,
    ...Object.fromEntries(Object.entries(plain).filter(([, v]) => v !== undefined)),
    ...(password === undefined
      ? {}
      : { passwordEnc: password === null ? null : await ctx.keyring.encrypt(password, passwordField(id)) }),
    ...(replicationPassword === undefined
      ? {}
      : {
          replicationPasswordEnc:
            replicationPassword === null
              ? null
              : await ctx.keyring.encrypt(replicationPassword, replicationPasswordField(id)),
        }),
    ...(sslRootCert === undefined ? {} : { sslRootCert }),
  }
  const row = await withTransaction(ctx.db, async (tx) => {
    const updated = await repo.updateInstance(tx, merged)
    if (!updated) throw new NotFoundError(`Instance ${id} does not exist.`)
    const before = presentInstance(current)
    const after = presentInstance(updated)
    await audited(ctx.audit, tx, {
      eventType: 'instance.updated',
      resourceId: id,
      action: 'update',
      // Which fields the request changed (a new password shows as changed, never its value).
      changes: Object.fromEntries(
        Object.keys(update).map((key) => [key, /password/i.test(key) ? '[redacted]' : true]),
      ),
      oldValues: before,
      newValues: after,
    })
    return updated
  }).catch((error) => nameTaken(error, merged.name))
  return presentInstance(row)
}

export async function deleteInstance(ctx: InstanceContext, id: string) {
  await withTransaction(ctx.db, async (tx) => {
    const current = await repo.findInstance(tx, id)
    if (!current || !(await repo.deleteInstance(tx, id)))
      throw new NotFoundError(`Instance ${id} does not exist.`)
    await audited(ctx.audit, tx, {
      eventType: 'instance.deleted',
      resourceId: id,
      action: 'delete',
      oldValues: presentInstance(current),
    })
  })
}

/** Tests a saved instance and records what the probe found. */
export async function testInstanceConnection(ctx: InstanceContext, id: string) {
  const row = await load(ctx, id)
  const started = performance.now()
  // The self-monitored store is reached through the service's own pool, not stored credentials.
  const capabilities = row.isSelf
    ? await probeCapabilities(ctx.db as postgres.Sql)
    : await probeOrThrow(ctx, await targetOf(ctx, row))
  const latencyMs = Math.round((performance.now() - started) * 10) / 10
  await withTransaction(ctx.db, async (tx) => {
    await repo.recordProbe(tx, id, capabilities)
    await audited(ctx.audit, tx, {
      eventType: 'instance.connection_tested',
      resourceId: id,
      action: 'execute',
      changes: { latencyMs, serverVersion: capabilities.serverVersion },
    })
  })
  return { ok: true as const, latencyMs, capabilities }
}

/** What the collector schedules: enabled instances with their effective intervals, no secrets. */
export async function listCollectedInstances(ctx: Pick<InstanceContext, 'db'>) {
  return (await repo.listEnabledInstances(ctx.db)).map((row) => ({
    id: row.id,
    name: row.name,
    intervals: effectiveIntervals(row.intervals),
    includeDatabases: row.includeDatabases,
    excludeDatabases: row.excludeDatabases,
    collectQueryText: row.collectQueryText,
    version: row.updatedAt.toISOString(),
  }))
}

/** How to reach an instance: its decrypted connection settings, or `self` for the service's store. */
export async function connectionTargetFor(
  ctx: InstanceReader,
  id: string,
): Promise<{ target: ConnectionTarget; isSelf: boolean }> {
  const row = await load(ctx, id)
  return { target: await targetOf(ctx, row), isSelf: row.isSelf }
}

/** How backups reach an instance: the replication login when one is set, else the monitoring
 * one; decrypted. */
export async function replicationTargetFor(
  ctx: InstanceReader,
  id: string,
): Promise<ConnectionTarget & { name: string }> {
  const row = await load(ctx, id)
  const monitoring = await targetOf(ctx, row)
  if (!row.replicationUsername) return { ...monitoring, name: row.name }
  return {
    ...monitoring,
    name: row.name,
    username: row.replicationUsername,
    password:
      row.replicationPasswordEnc === null
        ? undefined
        : await ctx.keyring.decrypt(row.replicationPasswordEnc, replicationPasswordField(row.id)),
  }
}

/** Stores what a probe found (the collector probes on every connect). */
export async function recordInstanceProbe(
  ctx: Pick<InstanceContext, 'db'>,
  id: string,
  capabilities: Capabilities,
) {
  await repo.recordProbe(ctx.db, id, capabilities)
}

/** Registers the service's own store as an instance, once per installation (deleting it sticks). */
export async function registerSelfInstance(
  ctx: Pick<InstanceContext, 'db'>,
  store: { host: string; port: number },
): Promise<boolean> {
  return withTransaction(ctx.db, async (tx) => {
    const marked = await tx`
      insert into pga_installation (key, value) values ('self_monitor_registered', now()::text)
      on conflict (key) do nothing`
    if (marked.count === 0) return false
    const [who] = await tx<{ database: string; username: string }[]>`
      select current_database()::text as database, current_user::text as username`
    const id = crypto.randomUUID()
    const inserted = await repo.insertInstance(tx, {
      id,
      name: 'pganalytics-store',
      host: store.host,
      port: store.port,
      database: who?.database ?? 'postgres',
      username: who?.username ?? 'postgres',
      passwordEnc: null,
      sslmode: 'disable',
      sslRootCert: null,
      tags: { role: 'self' },
      enabled: true,
      intervals: {},
      includeDatabases: ['*'],
      excludeDatabases: [],
      collectQueryText: true,
      replicationUsername: null,
      replicationPasswordEnc: null,
      // The embedded store (PGlite) has no replication protocol.
      walStreaming: false,
      isSelf: true,
      capabilities: null,
      probedAt: null,
    })
    await audited(systemAudit('self-monitoring'), tx, {
      eventType: 'instance.created',
      resourceId: id,
      action: 'create',
      newValues: presentInstance(inserted),
    })
    return true
  })
}
