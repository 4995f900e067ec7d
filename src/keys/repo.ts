// SQL of the keyring: data keys, the encrypted-column registry and rewrap runs.
import { type Db, withTransaction } from '../platform/db/database.ts'

export type DataKeyState = 'active' | 'decrypt_only' | 'retired'
export type DataKeyRow = {
  version: number
  state: DataKeyState
  wrappedKey: Uint8Array
  kekId: string
  encryptions: string
  createdAt: Date
  stateChangedAt: Date
}
export type EncryptedColumn = { tableName: string; columnName: string; keyColumn: string }
export type RewrapRun = {
  id: string
  targetVersion: number
  /** `superseded`: a newer rotation started another run before this one finished. */
  state: 'running' | 'done' | 'superseded'
  total: string
  done: string
  startedAt: Date
  updatedAt: Date
  finishedAt: Date | null
  /** The replica that last worked on the run. */
  holder: string | null
  /** Why the last pass stopped, until a pass gets through. */
  lastError: string | null
  lastErrorAt: Date | null
}

// A constant shared by all replicas for pg_advisory_xact_lock: "pgakeys" in hex.
export const keyringLockKey = '31654651229676915'

export async function listDataKeys(db: Db): Promise<DataKeyRow[]> {
  return db<DataKeyRow[]>`
    select version, state, wrapped_key as "wrappedKey", kek_id as "kekId", encryptions::text as encryptions,
           created_at as "createdAt", state_changed_at as "stateChangedAt"
    from pga_data_keys order by version`
}

export async function insertDataKey(db: Db, row: { version: number; wrappedKey: Uint8Array; kekId: string }) {
  await db`
    insert into pga_data_keys (version, state, wrapped_key, kek_id)
    values (${row.version}, 'active', ${Buffer.from(row.wrappedKey)}, ${row.kekId})`
}

export async function setDataKeyState(
  db: Db,
  version: number,
  from: DataKeyState,
  to: DataKeyState,
): Promise<boolean> {
  const rows = await db`
    update pga_data_keys set state = ${to}, state_changed_at = now()
    where version = ${version} and state = ${from} returning version`
  return rows.length === 1
}

/** Adds `block` to the active key's counter; returns the new total, or null if not active now. */
export async function reserveEncryptions(db: Db, version: number, block: number): Promise<bigint | null> {
  const [row] = await db<{ encryptions: string }[]>`
    update pga_data_keys set encryptions = encryptions + ${block}
    where version = ${version} and state = 'active' returning encryptions::text as encryptions`
  return row ? BigInt(row.encryptions) : null
}

export async function rewrapDataKey(
  db: Db,
  version: number,
  fromKekId: string,
  wrappedKey: Uint8Array,
  kekId: string,
) {
  const rows = await db`
    update pga_data_keys set wrapped_key = ${Buffer.from(wrappedKey)}, kek_id = ${kekId}
    where version = ${version} and kek_id = ${fromKekId} returning version`
  return rows.length === 1
}

export async function listEncryptedColumns(db: Db): Promise<EncryptedColumn[]> {
  return db<EncryptedColumn[]>`
    select table_name as "tableName", column_name as "columnName", key_column as "keyColumn"
    from pga_encrypted_columns order by table_name, column_name`
}

const runColumns = (db: Db) => db`
  id::text as id, target_version as "targetVersion", state, total::text as total, done::text as done,
  started_at as "startedAt", updated_at as "updatedAt", finished_at as "finishedAt", holder,
  last_error as "lastError", last_error_at as "lastErrorAt"`

/** The running run if there is one, else the latest. Ordered by the bigint column, qualified:
 * a bare `id` would name the text output column and put run 9 after run 10. */
export async function currentRewrapRun(db: Db): Promise<RewrapRun | null> {
  const [row] = await db<RewrapRun[]>`
    select ${runColumns(db)} from pga_key_rewrap_runs r
    order by r.state = 'running' desc, r.id desc limit 1`
  return row ?? null
}

/** A new running run, superseding whatever run is still running. The advisory lock serialises
 * two replicas doing this at once (a lease that expired mid-pass), so the second sees the first's
 * run and supersedes it instead of failing on the one-running index. */
export async function startRewrapRun(
  db: Db,
  targetVersion: number,
  total: number,
  holder: string,
): Promise<RewrapRun> {
  return withTransaction(db, async (tx) => {
    await tx`select pg_advisory_xact_lock(${keyringLockKey}::bigint)`
    await tx`
      update pga_key_rewrap_runs set state = 'superseded', finished_at = now(), updated_at = now()
      where state = 'running'`
    const [row] = await tx<RewrapRun[]>`
      insert into pga_key_rewrap_runs (target_version, state, total, holder)
      values (${targetVersion}, 'running', ${total}, ${holder})
      returning ${runColumns(tx)}`
    return row as RewrapRun
  })
}

export async function recordRewrapProgress(db: Db, id: string, done: number) {
  await db`update pga_key_rewrap_runs set done = done + ${done}, updated_at = now() where id = ${id}`
}

/** On resuming: the values left, and who works on the run now. */
export async function resumeRewrapRun(db: Db, id: string, remaining: number, holder: string) {
  await db`
    update pga_key_rewrap_runs set total = done + ${remaining}, holder = ${holder}, updated_at = now()
    where id = ${id}`
}

/** Records why a pass stopped, or clears it (null) once a pass gets through. */
export async function recordRewrapFailure(db: Db, id: string, error: string | null) {
  await db`
    update pga_key_rewrap_runs
    set last_error = ${error}, last_error_at = ${error === null ? null : new Date()}, updated_at = now()
    where id = ${id} and state = 'running'`
}

export async function getRewrapRun(db: Db, id: string): Promise<RewrapRun | null> {
  const [row] = await db<RewrapRun[]>`select ${runColumns(db)} from pga_key_rewrap_runs where id = ${id}`
  return row ?? null
}

export async function finishRewrapRun(db: Db, id: string) {
  await db`
    update pga_key_rewrap_runs set state = 'done', finished_at = now(), updated_at = now(),
      last_error = null, last_error_at = null
    where id = ${id} and state = 'running'`
}
