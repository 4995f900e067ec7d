// SQL of monitored instances.
import type { Db } from '../platform/db/database.ts'
import type { Capabilities } from './probe.ts'

export type InstanceRow = {
  id: string
  name: string
  host: string
  port: number
  database: string
  username: string
  passwordEnc: string | null
  sslmode: 'disable' | 'prefer' | 'require' | 'verify-ca' | 'verify-full'
  sslRootCert: string | null
  tags: Record<string, string>
  enabled: boolean
  intervals: Partial<Record<string, number>>
  includeDatabases: string[]
  excludeDatabases: string[]
  collectQueryText: boolean
  /** Login for pg_basebackup and pg_receivewal (null: the monitoring login). */
  replicationUsername: string | null
  replicationPasswordEnc: string | null
  walStreaming: boolean
  isSelf: boolean
  capabilities: Capabilities | null
  probedAt: Date | null
  createdAt: Date
  updatedAt: Date
}

const columns = (db: Db) => db`
  id, name, host, port, database, username, password_enc as "passwordEnc", sslmode, ssl_root_cert as "sslRootCert",
  tags, enabled, intervals, include_databases as "includeDatabases", exclude_databases as "excludeDatabases",
  collect_query_text as "collectQueryText", replication_username as "replicationUsername",
  replication_password_enc as "replicationPasswordEnc", wal_streaming as "walStreaming", is_self as "isSelf", capabilities, probed_at as "probedAt", created_at as "createdAt", updated_at as "updatedAt"`

export async function insertInstance(
  db: Db,
  row: Omit<InstanceRow, 'createdAt' | 'updatedAt'>,
): Promise<InstanceRow> {
  const [created] = await db<InstanceRow[]>`
    insert into pga_instances (id, name, host, port, database, username, password_enc, sslmode, ssl_root_cert, tags, enabled,
                               intervals, include_databases, exclude_databases, collect_query_text, replication_username,
                               replication_password_enc, wal_streaming, is_self, capabilities, probed_at)
    values (${row.id}, ${row.name}, ${row.host}, ${row.port}, ${row.database}, ${row.username}, ${row.passwordEnc},
            ${row.sslmode}, ${row.sslRootCert}, ${db.json(row.tags)}, ${row.enabled}, ${db.json(row.intervals)},
            ${row.includeDatabases}, ${row.excludeDatabases}, ${row.collectQueryText}, ${row.replicationUsername},
            ${row.replicationPasswordEnc}, ${row.walStreaming}, ${row.isSelf},
            ${row.capabilities ? db.json(row.capabilities as never) : null}, ${row.probedAt})
    returning ${columns(db)}`
  return created as InstanceRow
}

export async function listInstances(db: Db): Promise<InstanceRow[]> {
  return db<InstanceRow[]>`select ${columns(db)} from pga_instances order by name`
}

/** Enabled instances with what the collector needs to schedule them (no secrets). */
export async function listEnabledInstances(db: Db): Promise<InstanceRow[]> {
  return db<InstanceRow[]>`select ${columns(db)} from pga_instances where enabled order by id`
}

export async function findSelfInstance(db: Db): Promise<InstanceRow | null> {
  const [row] = await db<InstanceRow[]>`select ${columns(db)} from pga_instances where is_self`
  return row ?? null
}

export async function findInstance(db: Db, id: string): Promise<InstanceRow | null> {
  const [row] = await db<InstanceRow[]>`select ${columns(db)} from pga_instances where id = ${id}`
  return row ?? null
}

/** Replaces every column with the given row's values (the service merged the update). */
export async function updateInstance(
  db: Db,
  row: Omit<InstanceRow, 'createdAt' | 'updatedAt'>,
): Promise<InstanceRow | null> {
  const [updated] = await db<InstanceRow[]>`
    update pga_instances set name = ${row.name}, host = ${row.host}, port = ${row.port}, database = ${row.database},
      username = ${row.username}, password_enc = ${row.passwordEnc}, sslmode = ${row.sslmode}, ssl_root_cert = ${row.sslRootCert},
      tags = ${db.json(row.tags)}, enabled = ${row.enabled}, intervals = ${db.json(row.intervals)},
      include_databases = ${row.includeDatabases}, exclude_databases = ${row.excludeDatabases},
      collect_query_text = ${row.collectQueryText}, replication_username = ${row.replicationUsername},
      replication_password_enc = ${row.replicationPasswordEnc}, wal_streaming = ${row.walStreaming},
      capabilities = ${row.capabilities ? db.json(row.capabilities as never) : null}, probed_at = ${row.probedAt}, updated_at = now()
    where id = ${row.id} returning ${columns(db)}`
  return updated ?? null
}

/** Records a probe result without touching the settings (a concurrent update keeps its changes). */
export async function recordProbe(db: Db, id: string, capabilities: Capabilities) {
  await db`update pga_instances set capabilities = ${db.json(capabilities as never)}, probed_at = now() where id = ${id}`
}

export async function deleteInstance(db: Db, id: string): Promise<boolean> {
  return (await db`delete from pga_instances where id = ${id}`).count === 1
}
