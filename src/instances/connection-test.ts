// Connects to a monitored instance once and says precisely what is wrong when it cannot: DNS,
// refused, timeout, not PostgreSQL, authentication, TLS, missing database or missing privilege.
// On success it probes the instance's capabilities. Messages never carry the password, and never
// anything a peer that is not PostgreSQL sent (no banners): a failure says which of these classes
// it is and no more, so the test is not a tool to fingerprint other services.
import postgres from 'postgres'
import { withDeadline } from '../platform/deadline.ts'
import { HostNotAllowedError, type HostPolicy } from './host-policy.ts'
import { InstanceSockets } from './instance-socket.ts'
import { type Capabilities, probeCapabilities } from './probe.ts'

export type SslMode = 'disable' | 'prefer' | 'require' | 'verify-ca' | 'verify-full'
export type ConnectionTarget = {
  host: string
  port: number
  database: string
  username: string
  password?: string | undefined
  sslmode: SslMode
  sslRootCert?: string | undefined
}

export type ConnectionFailureReason =
  | 'host_not_allowed'
  | 'dns'
  | 'refused'
  | 'timeout'
  | 'protocol_error'
  | 'auth'
  | 'tls'
  | 'database_missing'
  | 'privilege'
  | 'other'
export type ConnectionFailure = { reason: ConnectionFailureReason; detail: string }
export type ConnectionTestResult =
  | { ok: true; latencyMs: number; capabilities: Capabilities }
  | { ok: false; failure: ConnectionFailure }

function sslOption(target: ConnectionTarget) {
  switch (target.sslmode) {
    case 'disable':
      return false
    case 'prefer':
    case 'require':
      return target.sslmode
    case 'verify-ca':
      // The chain must lead to the given CA; the host name is not checked.
      return {
        rejectUnauthorized: true,
        checkServerIdentity: () => undefined,
        ...(target.sslRootCert ? { ca: target.sslRootCert } : {}),
      }
    case 'verify-full':
      return { rejectUnauthorized: true, ...(target.sslRootCert ? { ca: target.sslRootCert } : {}) }
  }
}

/** TLS failures in words of our own: Node's messages for some of them quote the certificate
 * (the names it holds), which is the peer's text. */
const tlsFailures: Record<string, string> = {
  ERR_TLS_CERT_ALTNAME_INVALID: 'the certificate does not name this host',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'the certificate is self-signed',
  SELF_SIGNED_CERT_IN_CHAIN: 'the certificate chain ends in an untrusted self-signed certificate',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'the certificate chain does not lead to a trusted CA',
  UNABLE_TO_GET_ISSUER_CERT: 'the certificate chain does not lead to a trusted CA',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'the certificate chain does not lead to a trusted CA',
  CERT_HAS_EXPIRED: 'the certificate has expired',
  CERT_NOT_YET_VALID: 'the certificate is not valid yet',
  ERR_SSL_WRONG_VERSION_NUMBER: 'the server did not answer with TLS',
}

function tlsReason(code: string, message: string): string {
  const known = tlsFailures[code]
  if (known) return known
  if (/server does not support SSL/i.test(message)) return 'the server does not support TLS'
  if (/socket disconnected before secure TLS connection/i.test(message))
    return 'the server closed the connection during the TLS handshake'
  // An OpenSSL reason ("...:SSL routines::wrong version number") is ours, not the peer's.
  const openssl = /SSL routines:[^:]*:([a-z0-9 ]+)$/i.exec(message.trim())
  return openssl ? (openssl[1] as string) : 'the TLS handshake failed'
}

/** Sorts a driver error into a reason an operator can act on. */
export function classifyConnectionError(error: unknown, target: ConnectionTarget): ConnectionFailure {
  if (error instanceof HostNotAllowedError) return { reason: 'host_not_allowed', detail: error.message }
  const code = String((error as { code?: unknown }).code ?? '')
  const message = String((error as Error).message ?? '')
  const where = `${target.host}:${target.port}`
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return { reason: 'dns', detail: `host name ${target.host} does not resolve` }
  if (code === 'ECONNREFUSED') return { reason: 'refused', detail: `nothing accepts connections on ${where}` }
  if (code === 'CONNECT_TIMEOUT' || code === 'ETIMEDOUT')
    return { reason: 'timeout', detail: `no answer from ${where} in time` }
  if (code === 'DEADLINE_EXCEEDED')
    return {
      reason: 'timeout',
      detail: `no complete PostgreSQL answer from ${where} ${message.replace(/^no answer /, '')}`,
    }
  if (code === 'PGA_PROTOCOL_ERROR') return { reason: 'protocol_error', detail: `${where}: ${message}` }
  if (code === '28P01')
    return { reason: 'auth', detail: `password authentication failed for user ${target.username}` }
  if (code === '28000')
    return { reason: 'auth', detail: `the server refused user ${target.username} (pg_hba.conf or role)` }
  if (code === '3D000')
    return { reason: 'database_missing', detail: `database ${target.database} does not exist` }
  if (code === '42501')
    return { reason: 'privilege', detail: `user ${target.username} lacks a privilege the probe needs` }
  if (
    /certificate|self[- ]signed|SSL|TLS|secure TLS/i.test(message) ||
    code.startsWith('ERR_TLS') ||
    code.startsWith('ERR_SSL') ||
    code.includes('CERT')
  ) {
    return {
      reason: 'tls',
      detail: `TLS with ${where} failed (sslmode ${target.sslmode}): ${tlsReason(code, message)}`,
    }
  }
  // Only a code of ours or Node's (EHOSTUNREACH, CONNECTION_CLOSED) or an SQLSTATE: a peer that
  // merely looked like PostgreSQL chooses the text of an error response's code field.
  const shown = /^(E[A-Z]{2,20}|[A-Z_]{3,40}|[0-9A-Z]{5})$/.test(code) ? ` (${code})` : ''
  return { reason: 'other', detail: `connection to ${where} failed${shown}` }
}

export type ConnectionOptions = {
  connectTimeoutMs: number
  statementTimeoutMs: number
  lockTimeoutMs: number
  /** Seconds an idle connection stays open (0: until closed). */
  idleTimeoutSeconds: number
  applicationName: string
  /** Which hosts may be connected to (PGA_INSTANCE_HOSTS_ALLOW/_DENY), checked on every connect. */
  hostPolicy: HostPolicy
}

const socketsOf = new WeakMap<postgres.Sql, InstanceSockets>()

/** Settings of every session we open on a monitored server. JIT off: the catalog queries are
 * cheap, but on a server with 10,000 indexes their cost estimate passes jit_above_cost and the
 * JIT compilation alone took 80 % of the indexes group (1.2 s against 0.22 s without). */
export const monitoringSessionSettings = { jit: 'off' } as const

/** A one-connection postgres.js client for a monitored instance, with server-side timeouts set
 * at connection start so no query of ours can run or wait on a lock for long. Its sockets are
 * ours (see instance-socket.ts): `destroyInstanceConnection` ends them at any stage. */
export function openInstanceConnection(target: ConnectionTarget, options: ConnectionOptions): postgres.Sql {
  const sockets = new InstanceSockets(target.host, target.port, options.connectTimeoutMs, options.hostPolicy)
  // The typings lack the documented `socket` option and host arrays (a string host would be
  // split at ':' and ',', breaking IPv6 addresses).
  const connectVia = { host: [target.host], port: [target.port], socket: sockets.connect } as object
  const sql = postgres({
    ...connectVia,
    database: target.database,
    username: target.username,
    ...(target.password !== undefined ? { password: target.password } : {}),
    ssl: sslOption(target),
    max: 1,
    connect_timeout: Math.max(1, Math.ceil(options.connectTimeoutMs / 1000)),
    idle_timeout: options.idleTimeoutSeconds,
    onnotice: () => {},
    connection: {
      application_name: options.applicationName,
      statement_timeout: options.statementTimeoutMs,
      lock_timeout: options.lockTimeoutMs,
      idle_in_transaction_session_timeout: options.statementTimeoutMs,
      ...monitoringSessionSettings,
    },
  })
  socketsOf.set(sql, sockets)
  return sql
}

/** Destroys the client's sockets whatever they are doing; its pending queries reject with
 * `error` and it opens no new connection. For deadlines: `sql.end()` only asks politely. */
export function destroyInstanceConnection(sql: postgres.Sql, error: Error): void {
  socketsOf.get(sql)?.destroy(error)
  void sql.end({ timeout: 0 }).catch(() => {})
}

/** Opens one connection, probes, closes. TCP connect, TLS, start-up and the probe run under one
 * deadline of `timeoutMs`. Never throws: failures are returned, classified. */
export async function testConnection(
  target: ConnectionTarget,
  options: { timeoutMs?: number; hostPolicy: HostPolicy },
): Promise<ConnectionTestResult> {
  const timeoutMs = options.timeoutMs ?? 5000
  const sql = openInstanceConnection(target, {
    connectTimeoutMs: timeoutMs,
    statementTimeoutMs: timeoutMs,
    lockTimeoutMs: 1000,
    idleTimeoutSeconds: 1,
    applicationName: 'pganalytics',
    hostPolicy: options.hostPolicy,
  })
  const started = performance.now()
  try {
    const capabilities = await withDeadline(probeCapabilities(sql), timeoutMs, (error) =>
      destroyInstanceConnection(sql, error),
    )
    return { ok: true, latencyMs: Math.round((performance.now() - started) * 10) / 10, capabilities }
  } catch (error) {
    return { ok: false, failure: classifyConnectionError(error, target) }
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {})
  }
}
