// The audit event as services record it, and the one place secrets are kept out of it: every
// value under a key that names a secret (password, token, secret, private key, ...) is replaced
// before the event is written, whatever the service passed.
import { type IdempotencyAttempt, recordIdempotentCommit } from '../http/idempotency-commits.ts'
import type { Db } from '../platform/db/database.ts'

export type ActorType = 'user' | 'api_key' | 'admin_token' | 'system' | 'anonymous'
export type Actor = { type: ActorType; id?: string | undefined; sessionId?: string | undefined }

/** Who asked, from where: filled from the request by the HTTP layer, or `systemAudit`. */
export type AuditContext = {
  actor: Actor
  requestId?: string | undefined
  ip?: string | undefined
  userAgent?: string | undefined
  /** Set when the request carries an Idempotency-Key: its first successful event marks the key
   * as used in the same transaction. */
  idempotency?: IdempotencyAttempt | undefined
}

export const systemAudit = (component: string): AuditContext => ({ actor: { type: 'system', id: component } })

export type AuditEvent = {
  eventType: string
  resourceType: string
  resourceId?: string | undefined
  action: 'create' | 'read' | 'update' | 'delete' | 'execute' | 'login' | 'logout'
  outcome?: 'success' | 'failure'
  changes?: Record<string, unknown>
  oldValues?: Record<string, unknown> | null
  newValues?: Record<string, unknown> | null
}

/** Keys whose values never enter the audit trail. */
const secretKey =
  /pass(word|phrase)?|secret|token|private|credential|api_?key|master_?key|totp|otp_?seed|_enc$/i

export function redactSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactSecrets)
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([k, v]) => [
        k,
        secretKey.test(k) && v !== null && v !== undefined ? '[redacted]' : redactSecrets(v),
      ]),
    )
  }
  return value instanceof Date ? value.toISOString() : value
}

/** The document stored in the outbox and, once sealed, in audit_logs. */
export type OutboxEvent = {
  eventId: string
  eventType: string
  resourceType: string
  resourceId: string | null
  action: string
  outcome: 'success' | 'failure'
  actorType: ActorType
  actorId: string | null
  sessionId: string | null
  requestId: string | null
  ipAddress: string | null
  userAgent: string | null
  changes: unknown
  oldValues: unknown
  newValues: unknown
  createdAt: string
}

/** Writes the event into the outbox; call it inside the transaction of the change it records.
 * Under an Idempotency-Key, a success also marks the key used (or, if another attempt already
 * used it, throws so the transaction rolls back). */
export async function recordAuditEvent(db: Db, ctx: AuditContext, event: AuditEvent): Promise<string> {
  if (ctx.idempotency && (event.outcome ?? 'success') === 'success')
    await recordIdempotentCommit(db, ctx.idempotency)
  const doc: OutboxEvent = {
    eventId: crypto.randomUUID(),
    eventType: event.eventType,
    resourceType: event.resourceType,
    resourceId: event.resourceId ?? null,
    action: event.action,
    outcome: event.outcome ?? 'success',
    actorType: ctx.actor.type,
    actorId: ctx.actor.id ?? null,
    sessionId: ctx.actor.sessionId ?? null,
    requestId: ctx.requestId ?? null,
    ipAddress: ctx.ip ?? null,
    userAgent: ctx.userAgent?.slice(0, 512) ?? null,
    changes: redactSecrets(event.changes ?? {}),
    oldValues: redactSecrets(event.oldValues ?? null),
    newValues: redactSecrets(event.newValues ?? null),
    createdAt: new Date().toISOString(),
  }
  await db`insert into audit_outbox (event) values (${db.json(doc as never)})`
  return doc.eventId
}
