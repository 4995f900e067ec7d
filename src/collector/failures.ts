// Why a collection failed, as a stable code for snapshots and metrics, and whether the failure
// concerns the whole connection (reconnect and back off) or only one query (record and go on).
import { type ConnectionTarget, classifyConnectionError } from '../instances/connection-test.ts'
import { HostNotAllowedError } from '../instances/host-policy.ts'

export type CollectionFailure = { code: string; message: string; connectionLost: boolean }

const connectionCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'DEADLINE_EXCEEDED',
  'PGA_PROTOCOL_ERROR', // not a PostgreSQL server (instances/instance-socket.ts)
  '28P01',
  '28000',
  '3D000',
  '57P01', // admin shutdown
  '57P02', // crash shutdown
  '57P03', // cannot connect now (starting up, shutting down)
])

/** `connecting`: the error ended the connection attempt (start-up, the probe), so it is a
 * connection failure whatever its code, and its text is never recorded as is (a peer that is not
 * PostgreSQL may have chosen it). */
export function classifyFailure(
  error: unknown,
  target: ConnectionTarget,
  options: { connecting?: boolean } = {},
): CollectionFailure {
  // The host policy refused the host (it changed since the instance was saved, or the name now
  // resolves elsewhere): nothing was connected to.
  if (error instanceof HostNotAllowedError)
    return { code: error.code, message: error.message, connectionLost: true }
  const code = String((error as { code?: unknown }).code ?? '')
  if (options.connecting || connectionCodes.has(code) || code.startsWith('08')) {
    const failure = classifyConnectionError(error, target)
    return { code: `connection_${failure.reason}`, message: failure.detail, connectionLost: true }
  }
  if (code === '57014')
    return { code: 'query_timeout', message: 'statement_timeout reached', connectionLost: false }
  if (code === '55P03')
    return { code: 'lock_timeout', message: 'lock_timeout reached', connectionLost: false }
  if (code === '42501')
    return { code: 'privilege', message: oneLine((error as Error).message), connectionLost: false }
  return {
    code: code ? `query_failed_${code}` : 'query_failed',
    message: oneLine((error as Error).message ?? String(error)),
    connectionLost: false,
  }
}

const oneLine = (text: string) => text.replace(/\s+/g, ' ').slice(0, 300)
