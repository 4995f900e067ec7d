// The store: a postgres.js pool over an external PostgreSQL or over the embedded PGlite, plus
// withTransaction. Repos take a `Db` (pool or transaction) so callers decide the transaction.
import { readFileSync } from 'node:fs'
import postgres from 'postgres'
import type { Config } from '../../config.ts'
import type { Logger } from '../log.ts'
import type { EmbeddedAssets, EmbeddedPostgres } from './embedded.ts'

export type Sql = postgres.Sql
export type Tx = postgres.TransactionSql
/** Anything that runs queries: the pool or an open transaction. */
export type Db = Sql | Tx

export type Database = {
  readonly kind: 'postgres' | 'embedded'
  /** False for the embedded store: only this process can use it. */
  readonly shared: boolean
  readonly sql: Sql
  readonly poolSize: number
  /** Round trip of `select 1` in ms; throws when the store is unreachable. */
  ping(): Promise<number>
  /** Closes the pool (waiting up to timeoutMs for running queries) and the embedded server. */
  close(timeoutMs?: number): Promise<void>
}

/**
 * Runs fn in a transaction. When `db` already is a transaction, fn joins it, so a service verb
 * can be called alone or as part of a larger unit of work without changing its code. `mode` is
 * what follows BEGIN for a new one (e.g. 'isolation level repeatable read read only').
 */
export async function withTransaction<T>(db: Db, fn: (tx: Tx) => Promise<T>, mode = ''): Promise<T> {
  if ('savepoint' in db) return fn(db as Tx)
  return (await (db as Sql).begin(mode, (tx) => fn(tx))) as T
}

function sslOption(store: Extract<Config['store'], { kind: 'postgres' }>) {
  switch (store.ssl) {
    case 'disable':
      return false
    case 'verify-full':
      return {
        rejectUnauthorized: true,
        ...(store.sslCaFile ? { ca: readFileSync(store.sslCaFile, 'utf8') } : {}),
      }
    default:
      return store.ssl
  }
}

/**
 * postgres.js looks up the array types (a pg_type query, 5-10 ms) on every connection it opens,
 * and the pool opens them lazily, reopening after each idle timeout. The types it needs are
 * built in (the migrations create none) and the parsers it builds from them are shared by the
 * pool: once one connection has them, the others skip the lookup. postgres.js reads
 * `fetch_types` at each connect and records the types in `shared.typeArrayMap`.
 */
function fetchTypesOnce(sql: Sql): void {
  const options = sql.options as unknown as { fetch_types: boolean; shared: { typeArrayMap: object } }
  Object.defineProperty(options, 'fetch_types', {
    get: () => Object.keys(options.shared.typeArrayMap).length === 0,
    configurable: true,
  })
}

/** Opens the configured store. Embedded mode starts PGlite first and talks to it over a private socket. */
export async function openDatabase(
  store: Config['store'],
  options: { log: Logger; embeddedAssets?: () => Promise<EmbeddedAssets> },
): Promise<Database> {
  let embedded: EmbeddedPostgres | undefined
  const common = {
    onnotice: (notice: postgres.Notice) => options.log.debug('store notice', { message: notice.message }),
    connection: { application_name: 'pganalytics', statement_timeout: store.statementTimeoutMs },
  }
  let sql: Sql
  let poolSize: number
  if (store.kind === 'embedded') {
    // PGlite (and its WASM glue) loads only for the embedded store.
    const { startEmbeddedPostgres } = await import('./embedded.ts')
    embedded = await startEmbeddedPostgres({
      dataDir: store.dataDir,
      log: options.log,
      assets: options.embeddedAssets,
    })
    // PGlite has one backend: the socket server interleaves queries from different connections,
    // which would mix transactions. One connection makes postgres.js queue them instead.
    poolSize = 1
    sql = postgres({
      ...common,
      path: embedded.socketPath,
      user: 'postgres',
      database: 'postgres',
      max: 1,
      idle_timeout: 0,
    })
  } else {
    poolSize = store.poolSize
    sql = postgres(store.url, {
      ...common,
      max: store.poolSize,
      ssl: sslOption(store),
      connect_timeout: Math.ceil(store.connectTimeoutMs / 1000),
      idle_timeout: 60,
      max_lifetime: 30 * 60,
    })
  }
  fetchTypesOnce(sql)
  return {
    kind: store.kind,
    shared: store.kind !== 'embedded',
    sql,
    poolSize,
    async ping() {
      const started = performance.now()
      await sql`select 1`
      return performance.now() - started
    },
    async close(timeoutMs = 5000) {
      await sql.end({ timeout: Math.ceil(timeoutMs / 1000) })
      await embedded?.stop()
    },
  }
}

/** SQL text for a timestamptz column as an ISO 8601 UTC string with milliseconds (for column
 * lists built as text; the column name is code, never input). */
export const isoTimestamp = (column: string) =>
  `to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`
