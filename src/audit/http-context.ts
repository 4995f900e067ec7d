// The audit context of an HTTP request: who (the actor the auth middleware set), the request id,
// the client address and user agent. The address is the first X-Forwarded-For hop when a proxy
// sets it (the load balancer in front of the replicas), else X-Real-IP, else unknown.
import type { Context } from 'hono'
import type { Actor, AuditContext } from './events.ts'

declare module 'hono' {
  interface ContextVariableMap {
    actor: Actor
  }
}

export function auditContextOf(c: Context): AuditContext {
  const forwarded = c.req.header('X-Forwarded-For')?.split(',')[0]?.trim()
  return {
    actor: c.get('actor') ?? { type: 'anonymous' },
    requestId: c.get('requestId'),
    ip: forwarded || c.req.header('X-Real-IP') || undefined,
    userAgent: c.req.header('User-Agent'),
  }
}
