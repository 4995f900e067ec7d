// Retention policy per compliance framework. The trail is one chain, so the strictest policy
// wins: entries stay in audit_logs for the longest archive_after_days (no archiving when no policy
// sets it), archived bundles are kept for the longest retention_days, and they are deleted only
// when every policy allows deletion (none does by default).
import { BadRequestError, NotFoundError } from '../http/errors.ts'
import { type Db, withTransaction } from '../platform/db/database.ts'
import { type AuditContext, recordAuditEvent } from './events.ts'
import type { Framework } from './reports.ts'

export type RetentionPolicy = {
  framework: Framework
  retentionDays: number
  archiveAfterDays: number | null
  deletionAllowed: boolean
  updatedAt: string
  updatedBy: string | null
}

export type RetentionPolicyInput = Pick<
  RetentionPolicy,
  'retentionDays' | 'archiveAfterDays' | 'deletionAllowed'
>

export type EffectiveRetention = {
  /** Entries older than this many days are archived; null: never. */
  archiveAfterDays: number | null
  /** Archived bundles older than this many days may go, when deletion is allowed. */
  retentionDays: number
  deletionAllowed: boolean
}

const columns = (db: Db) => db`
  framework, retention_days as "retentionDays", archive_after_days as "archiveAfterDays",
  deletion_allowed as "deletionAllowed",
  to_char(updated_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as "updatedAt", updated_by as "updatedBy"`

export async function listPolicies(db: Db): Promise<RetentionPolicy[]> {
  return db<RetentionPolicy[]>`select ${columns(db)} from audit_log_retention_policy order by framework`
}

export function effectiveRetention(policies: RetentionPolicy[]): EffectiveRetention {
  const archiveAfter = policies.flatMap((p) => (p.archiveAfterDays === null ? [] : [p.archiveAfterDays]))
  return {
    archiveAfterDays: archiveAfter.length ? Math.max(...archiveAfter) : null,
    retentionDays: Math.max(...policies.map((p) => p.retentionDays)),
    deletionAllowed: policies.length > 0 && policies.every((p) => p.deletionAllowed),
  }
}

/** Changes one framework's policy; the change and its audit event commit together. */
export async function updatePolicy(
  db: Db,
  audit: AuditContext,
  framework: Framework,
  input: RetentionPolicyInput,
): Promise<RetentionPolicy> {
  if (input.archiveAfterDays !== null && input.archiveAfterDays > input.retentionDays)
    throw new BadRequestError(
      'invalid_retention_policy',
      `archiveAfterDays (${input.archiveAfterDays}) must not exceed retentionDays (${input.retentionDays}): entries are archived before they may expire.`,
      [{ path: 'archiveAfterDays', message: 'must not exceed retentionDays' }],
    )
  return withTransaction(db, async (tx) => {
    const [old] = await tx<RetentionPolicy[]>`
      select ${columns(tx)} from audit_log_retention_policy where framework = ${framework} for update`
    if (!old) throw new NotFoundError(`No retention policy for ${framework}.`)
    const [updated] = await tx<RetentionPolicy[]>`
      update audit_log_retention_policy
         set retention_days = ${input.retentionDays}, archive_after_days = ${input.archiveAfterDays},
             deletion_allowed = ${input.deletionAllowed}, updated_at = now(), updated_by = ${audit.actor.id ?? audit.actor.type}
       where framework = ${framework}
       returning ${columns(tx)}`
    const policy = updated as RetentionPolicy
    await recordAuditEvent(tx, audit, {
      eventType: 'audit.retention_policy_updated',
      resourceType: 'retention_policy',
      resourceId: framework,
      action: 'update',
      changes: Object.fromEntries(
        (['retentionDays', 'archiveAfterDays', 'deletionAllowed'] as const)
          .filter((k) => old[k] !== policy[k])
          .map((k) => [k, { old: old[k], new: policy[k] }]),
      ),
      oldValues: old,
      newValues: policy,
    })
    return policy
  })
}
