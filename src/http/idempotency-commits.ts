// The durable half of Idempotency-Key: a row per key written in the transaction of the change the
// request made (by recordAuditEvent, which every change calls inside its transaction). The
// replay record lives in the state store; if it is lost (Redis restarted without persistence, or
// a replica died between its commit and storing the response), a second attempt with the same
// key reaches this row's primary key and rolls back instead of making a second object.
import type { Db } from '../platform/db/database.ts'
import type { Logger } from '../platform/log.ts'
import { ConflictError } from './errors.ts'

/** Which key a request runs under (a hash of principal, method, route and key) and which attempt
 * this is: a retry carries the same request id, so attempts need their own. */
export type IdempotencyAttempt = { scope: string; attempt: string }

export const keyCommittedError = () =>
  new ConflictError(
    'idempotency_key_committed',
    'A request with this Idempotency-Key already completed, and its response is no longer stored; nothing was changed now. Read the resource, or use a new key for a new operation.',
  )

/** Whether some attempt under this key already committed a change. */
export async function isIdempotentCommitted(db: Db, scope: string): Promise<boolean> {
  const rows = await db`select 1 from idempotency_commits where scope = ${scope}`
  return rows.length > 0
}

/** Marks the key as used by this attempt, in the caller's transaction; throws (rolling the
 * transaction back) when another attempt already committed under the same key. */
export async function recordIdempotentCommit(db: Db, attempt: IdempotencyAttempt): Promise<void> {
  const rows = await db`
    insert into idempotency_commits (scope, attempt_id) values (${attempt.scope}, ${attempt.attempt})
    on conflict (scope) do update set attempt_id = excluded.attempt_id
      where idempotency_commits.attempt_id = excluded.attempt_id
    returning 1`
  if (rows.length === 0) throw keyCommittedError()
}

/** Removes rows older than the replay window. Returns how many went. */
export async function purgeIdempotentCommits(db: Db, olderThanMs: number): Promise<number> {
  const rows = await db`
    delete from idempotency_commits where committed_at < now() - make_interval(secs => ${olderThanMs / 1000})
    returning 1`
  return rows.length
}

/** A callback that purges old rows in the background at most once an hour (per replica; running
 * it on several replicas at once is harmless). */
export function hourlyPurge(db: Db, olderThanMs: number, log: Logger): () => void {
  let last = Number.NEGATIVE_INFINITY
  return () => {
    const now = performance.now()
    if (now - last < 3_600_000) return
    last = now
    purgeIdempotentCommits(db, olderThanMs).catch((error) =>
      log.warn('could not purge old idempotency marks', { error: String(error) }),
    )
  }
}
