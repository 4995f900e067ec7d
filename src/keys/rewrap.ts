// Rewrap: re-encrypts every value held under an older data key with the active one, then retires
// the older keys. Resumable (a value already moved no longer matches, and progress is stored with
// each batch), safe with several replicas (one lease holder works; every row is updated only if
// it still holds the value read, so a concurrent write is never overwritten), and careful: a key
// is retired only after a settle period (longer than any replica's encryption reservation) and a
// final pass that finds no value left under it.
import type { Database } from '../platform/db/database.ts'
import { withTransaction } from '../platform/db/database.ts'
import type { Logger } from '../platform/log.ts'
import type { Lease, StateStore } from '../platform/state/state-store.ts'
import type { Keyring } from './keyring.ts'
import {
  currentRewrapRun,
  type EncryptedColumn,
  finishRewrapRun,
  getRewrapRun,
  listDataKeys,
  listEncryptedColumns,
  type RewrapRun,
  recordRewrapFailure,
  recordRewrapProgress,
  resumeRewrapRun,
  startRewrapRun,
} from './repo.ts'

export type RewrapOptions = {
  db: Database
  state: StateStore
  keyring: Keyring
  log: Logger
  /** Who holds the lease (replica id). */
  holder: string
  batchSize?: number
  /** Decrypt-only keys are retired only this long after they stopped being active (default 2 min). */
  settleMs?: number
  /** Called after each batch with the run's progress. */
  onProgress?: (progress: { done: number; total: number }) => void
}

export type RewrapOutcome =
  | { status: 'busy' }
  | { status: 'nothing-to-do' }
  | { status: 'rewrapped'; run: RewrapRun; retired: number[]; waitingToRetire: number[] }
  | { status: 'lease-lost'; done: number }

/** A value that cannot be moved, named by its place (never its content) so an operator can find
 * it: the run stops there and reports it until the row is fixed. */
export class RewrapValueError extends Error {
  override name = 'RewrapValueError'
  constructor(place: { table: string; column: string; rowKey: string }, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause)
    super(`${place.table}.${place.column} row ${place.rowKey}: ${reason}`, { cause })
  }
}

/** What the run record keeps of a failure: the message only (no values, no stack), bounded. */
function describeFailure(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  return text.slice(0, 500)
}

const leaseName = 'keys:rewrap'
const leaseTtlMs = 30_000

/** Values under another version than `active`. The regex yields NULL (not a cast error) for
 * anything that is not a pga:v1 ciphertext, so such values are simply not selected. */
function stale(db: Database['sql'], column: EncryptedColumn, active: number) {
  return db`substring(${db(column.columnName)} from '^pga:v1:([0-9]+):')::int <> ${active}`
}

async function countStale(db: Database['sql'], columns: EncryptedColumn[], active: number): Promise<number> {
  let total = 0
  for (const column of columns) {
    const [row] = await db<{ n: string }[]>`
      select count(*)::text as n from ${db(column.tableName)} where ${stale(db, column, active)}`
    total += Number(row?.n ?? 0)
  }
  return total
}

/** The SQL type of a key column, e.g. `bigint` or `text`, checked before it is spliced in. */
async function columnType(db: Database['sql'], table: string, column: string): Promise<string> {
  const [row] = await db<{ type: string }[]>`
    select format_type(atttypid, atttypmod) as type from pg_attribute
    where attrelid = ${table}::regclass and attname = ${column} and not attisdropped`
  if (!row || !/^[a-z][a-z0-9 ]*(\(\d+(,\d+)?\))?$/.test(row.type)) {
    throw new Error(
      `encrypted column ${table}.${column}: key column ${column} not found or of an unsupported type`,
    )
  }
  return row.type
}

/** Runs rewrap to completion (or until the lease is lost). */
export async function rewrapStaleValues(options: RewrapOptions): Promise<RewrapOutcome> {
  const { db, state, keyring, log } = options
  const lease = await state.acquireLease(leaseName, options.holder, leaseTtlMs)
  if (!lease) return { status: 'busy' }
  try {
    await keyring.reload()
    const keys = await listDataKeys(db.sql)
    const older = keys.filter((k) => k.state === 'decrypt_only')
    if (older.length === 0) return { status: 'nothing-to-do' }
    const active = keyring.activeVersion()
    const columns = await listEncryptedColumns(db.sql)

    let run = await currentRewrapRun(db.sql)
    const remaining = await countStale(db.sql, columns, active)
    if (run?.state === 'running' && run.targetVersion === active) {
      await resumeRewrapRun(db.sql, run.id, remaining, options.holder)
      log.info('rewrap resumed', { runId: run.id, targetVersion: active, done: run.done, remaining })
    } else {
      // A run for an older target (rotations came faster than rewrap) is superseded: every value
      // not under the active key is this run's work, whichever key it is under.
      run = await startRewrapRun(db.sql, active, remaining, options.holder)
      log.info('rewrap started', { runId: run.id, targetVersion: active, total: remaining })
    }
    const runId = run.id
    const moved = await moveStaleValues({ ...options, lease, columns, active, run }).catch(async (error) => {
      await recordRewrapFailure(db.sql, runId, describeFailure(error)).catch(() => {})
      throw error
    })
    if (moved === 'lease-lost')
      return { status: 'lease-lost', done: Number((await getRewrapRun(db.sql, runId))?.done ?? 0) }
    if (run.lastError) await recordRewrapFailure(db.sql, runId, null)

    // Retire older keys that have settled and hold no value any more.
    const settleMs = options.settleMs ?? 120_000
    const retired: number[] = []
    const waiting: number[] = []
    const now = Date.now()
    const settled = older.filter((key) => now - key.stateChangedAt.getTime() >= settleMs)
    // One verification pass serves every settled key: any value left under an older key blocks all.
    const leftover = settled.length > 0 ? await countStale(db.sql, columns, active) : 0
    for (const key of older) {
      if (!settled.includes(key) || leftover > 0) {
        waiting.push(key.version)
        continue
      }
      if (await keyring.retire(key.version)) retired.push(key.version)
    }
    if (waiting.length === 0) await finishRewrapRun(db.sql, runId)
    const finished = (await getRewrapRun(db.sql, runId)) as RewrapRun
    log.info('rewrap pass complete', {
      runId: run.id,
      done: finished.done,
      retired,
      waitingToRetire: waiting,
    })
    return { status: 'rewrapped', run: finished, retired, waitingToRetire: waiting }
  } finally {
    await state.releaseLease(lease)
  }
}

async function moveStaleValues(
  options: RewrapOptions & { lease: Lease; columns: EncryptedColumn[]; active: number; run: RewrapRun },
): Promise<'done' | 'lease-lost'> {
  const { db, keyring, columns, active, run } = options
  const batchSize = options.batchSize ?? 500
  let done = Number(run.done)
  const total = Number(run.total)
  for (const column of columns) {
    // Keyset pagination on the key column: each batch continues after the last key seen, so the
    // table is walked once instead of rescanned per batch. Its type comes from the catalog.
    const keyType = await columnType(db.sql, column.tableName, column.keyColumn)
    let after: string | undefined
    for (;;) {
      if (!(await options.state.renewLease(options.lease, leaseTtlMs))) return 'lease-lost'
      const moved = await withTransaction(db.sql, async (tx) => {
        const rows = await tx<{ key: string; value: string }[]>`
          select ${tx(column.keyColumn)}::text as key, ${tx(column.columnName)} as value
          from ${tx(column.tableName)}
          where ${stale(tx as unknown as Database['sql'], column, active)}
            ${after === undefined ? tx`` : tx`and ${tx(column.keyColumn)} > ${after}::${tx.unsafe(keyType)}`}
          order by ${tx(column.keyColumn)} limit ${batchSize}
          for update skip locked`
        if (rows.length === 0) return { read: 0, count: 0 }
        const fresh = await Promise.all(
          rows.map(async (row) => {
            const place = { table: column.tableName, column: column.columnName, rowKey: row.key }
            const plaintext = await keyring.decrypt(row.value, place).catch((error) => {
              throw new RewrapValueError(place, error)
            })
            return keyring.encrypt(plaintext, place)
          }),
        )
        // One statement per batch; each row changes only if it still holds the value read.
        const updated = await tx`
          update ${tx(column.tableName)} as t set ${tx(column.columnName)} = v.fresh
          from unnest(${rows.map((r) => r.key)}::text[], ${rows.map((r) => r.value)}::text[], ${fresh}::text[])
            as v(key, old, fresh)
          where t.${tx(column.keyColumn)}::text = v.key and t.${tx(column.columnName)} = v.old`
        const count = updated.count
        if (count > 0) await recordRewrapProgress(tx, run.id, count)
        return { read: rows.length, count, last: rows.at(-1)?.key }
      })
      done += moved.count
      after = moved.last ?? after
      options.onProgress?.({ done, total })
      if (moved.read < batchSize) break
    }
  }
  return 'done'
}
