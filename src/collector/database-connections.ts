// The per-database connections of one monitored instance, kept from round to round so a round
// does not pay a connection start-up (TLS, SCRAM, backend fork) per database. Bounded: the first
// `max` databases keep theirs; any beyond get one for the round, closed after it. A kept
// connection closes its socket after `idleSeconds` unused (postgres.js reopens it on the next
// query), and is ended when its database leaves the list or its connection is lost.
import type postgres from 'postgres'

type DatabaseConnection = { sql: postgres.Sql; kept: boolean }

export class DatabaseConnections {
  private readonly kept = new Map<string, postgres.Sql>()

  constructor(
    private readonly open: (database: string, idleTimeoutSeconds: number) => postgres.Sql,
    private readonly max: number,
    private readonly idleSeconds: number,
  ) {}

  /** The kept connection of `database`, or a new one (kept while there is room). */
  get(database: string): DatabaseConnection {
    const existing = this.kept.get(database)
    if (existing) return { sql: existing, kept: true }
    if (this.kept.size < this.max) {
      const sql = this.open(database, this.idleSeconds)
      this.kept.set(database, sql)
      return { sql, kept: true }
    }
    return { sql: this.open(database, 0), kept: false }
  }

  /** Forgets a kept connection (lost, or its database is gone); the caller has torn it down or
   * it is ended here. */
  async drop(database: string): Promise<void> {
    const sql = this.kept.get(database)
    this.kept.delete(database)
    await sql?.end({ timeout: 1 }).catch(() => {})
  }

  /** Ends the connections of databases no longer visited (dropped, excluded, no longer allowed). */
  async retain(databases: readonly string[]): Promise<void> {
    const visited = new Set(databases)
    for (const database of [...this.kept.keys()]) if (!visited.has(database)) await this.drop(database)
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.kept.keys()].map((database) => this.drop(database)))
  }
}
