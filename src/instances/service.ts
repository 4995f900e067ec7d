// Service verbs for monitored instances: create (testing the connection first unless asked not
// to), list, get, update, delete, and test a saved instance's connection (recording what the
// probe found). Passwords go through the keyring, bound to the instance's row.
import { ConflictError, NotFoundError, ServiceError } from '../http/errors.ts'
import type { Keyring } from '../keys/keyring.ts'
import type { Db } from '../platform/db/database.ts'
import { type ConnectionFailure, type ConnectionTarget, testConnection } from './connection-test.ts'
import type { Capabilities } from './probe.ts'
import type { InstanceRow } from './repo.ts'
import * as repo from './repo.ts'

/** The instance could not be reached or used; `code` names the reason (connection_refused, ...). */
export class ConnectionFailedError extends ServiceError {
  constructor(failure: ConnectionFailure) {
    super(`connection_${failure.reason}`, 422, 'Connection test failed', failure.detail)
  }
}

export type InstanceContext = { db: Db; keyring: Keyring; connectTimeoutMs?: number }

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
}
export type InstanceUpdate = Partial<Omit<InstanceInput, 'password' | 'sslRootCert'>> & {
  password?: string | null | undefined
  sslRootCert?: string | null | undefined
}

/** What the API shows: no password, no certificate body. */
export function presentInstance(row: InstanceRow) {
  const { passwordEnc, sslRootCert, probedAt, createdAt, updatedAt, ...rest } = row
  return {
    ...rest,
    hasPassword: passwordEnc !== null,
    hasSslRootCert: sslRootCert !== null,
    probedAt: probedAt?.toISOString() ?? null,
    createdAt: createdAt.toISOString(),
    updatedAt: updatedAt.toISOString(),
  }
}

const passwordField = (id: string) => ({ table: 'pga_instances', column: 'password_enc', rowKey: id })

async function probeOrThrow(target: ConnectionTarget, timeoutMs?: number): Promise<Capabilities> {
  const result = await testConnection(target, timeoutMs === undefined ? {} : { timeoutMs })
  if (!result.ok) throw new ConnectionFailedError(result.failure)
  return result.capabilities
}

function nameTaken(error: unknown, name: string): never {
  if ((error as { code?: string }).code === '23505')
    throw new ConflictError('instance_name_taken', `An instance named ${name} exists.`)
  throw error
}

export async function createInstance(ctx: InstanceContext, input: InstanceInput, options: { test: boolean }) {
  const capabilities = options.test ? await probeOrThrow(input, ctx.connectTimeoutMs) : null
  const id = crypto.randomUUID()
  const row = await repo
    .insertInstance(ctx.db, {
      ...input,
      id,
      passwordEnc:
        input.password === undefined ? null : await ctx.keyring.encrypt(input.password, passwordField(id)),
      sslRootCert: input.sslRootCert ?? null,
      capabilities,
      probedAt: capabilities ? new Date() : null,
    })
    .catch((error) => nameTaken(error, input.name))
  return presentInstance(row)
}

export async function listInstances(ctx: InstanceContext) {
  return (await repo.listInstances(ctx.db)).map(presentInstance)
}

async function load(ctx: InstanceContext, id: string): Promise<InstanceRow> {
  const row = await repo.findInstance(ctx.db, id)
  if (!row) throw new NotFoundError(`Instance ${id} does not exist.`)
  return row
}

export async function getInstance(ctx: InstanceContext, id: string) {
  return presentInstance(await load(ctx, id))
}

/** The connection settings of a saved instance, password decrypted. */
async function targetOf(ctx: InstanceContext, row: InstanceRow): Promise<ConnectionTarget> {
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
  const current = await load(ctx, id)
  const { password, sslRootCert, ...plain } = update
  const merged: InstanceRow = {
    ...current,
    ...Object.fromEntries(Object.entries(plain).filter(([, v]) => v !== undefined)),
    ...(password === undefined
      ? {}
      : { passwordEnc: password === null ? null : await ctx.keyring.encrypt(password, passwordField(id)) }),
    ...(sslRootCert === undefined ? {} : { sslRootCert }),
  }
  const row = await repo.updateInstance(ctx.db, merged).catch((error) => nameTaken(error, merged.name))
  if (!row) throw new NotFoundError(`Instance ${id} does not exist.`)
  return presentInstance(row)
}

export async function deleteInstance(ctx: InstanceContext, id: string) {
  if (!(await repo.deleteInstance(ctx.db, id))) throw new NotFoundError(`Instance ${id} does not exist.`)
}

/** Tests a saved instance and records what the probe found. */
export async function testInstanceConnection(ctx: InstanceContext, id: string) {
  const row = await load(ctx, id)
  const started = performance.now()
  const capabilities = await probeOrThrow(await targetOf(ctx, row), ctx.connectTimeoutMs)
  const latencyMs = Math.round((performance.now() - started) * 10) / 10
  await repo.recordProbe(ctx.db, id, capabilities)
  return { ok: true as const, latencyMs, capabilities }
}
