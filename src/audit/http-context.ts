// The audit context of an HTTP request: who (the actor the auth middleware set), the request id,
// the client address (resolved once per request from the socket peer and, behind a trusted
// proxy only, the forwarding headers: http/client-address.ts) and user agent.
import type { Context } from 'hono'
import type { Actor, AuditContext } from './events.ts'

declare module 'hono' {
  interface ContextVariableMap {
    actor: Actor
  }
}

export function auditContextOf(c: Context): AuditContext {
  return {
    actor: c.get('actor') ?? { type: 'anonymous' },
    requestId: c.get('requestId'),
    ip: c.get('clientAddress')?.(),
    userAgent: c.req.header('User-Agent'),
    idempotency: c.get('idempotency'),
  }
}
