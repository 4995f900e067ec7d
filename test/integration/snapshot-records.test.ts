// Snapshot rows travel as an array of composite values in the catalog's column order (issue 17:
// the store reads them at about a third of JSON's cost). The row types match the catalog, and
// every group stores the same rows from records as from JSON objects, for names that need
// quoting and under a monitored server whose DateStyle and TimeZone are not ISO and UTC.
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { metricGroups, planGroup, queryParams } from '../../src/collector/catalog/index.ts'
import { ensurePartitions } from '../../src/collector/partitions.ts'
import { writeSnapshot } from '../../src/collector/snapshot-repo.ts'
import { fetchRows, recordOf } from '../../src/collector/worker-helpers.ts'
import { probeCapabilities } from '../../src/instances/probe.ts'
import { readMigrationsDir } from '../../src/platform/db/migration-files.ts'
import { runMigrations } from '../../src/platform/db/migrations.ts'
import { createLogger } from '../../src/platform/log.ts'
import { createTestDatabase } from '../harness/postgres.ts'

let store: postgres.Sql
let monitored: postgres.Sql
// Names that need quoting in a composite or array literal, and a non-ASCII one.
const awkward = [
  'a,b',
  'q"uote',
  'back\\slash',
  '{brace}',
  '(paren)',
  'two words',
  'ünï',
  "it's",
  'new\nline',
]

beforeAll(async () => {
  store = postgres(await createTestDatabase(inject('pgUrl')), { max: 2, onnotice: () => {} })
  await runMigrations(store, readMigrationsDir(), createLogger({ level: 'error', write: () => {} }))
  await ensurePartitions(
    store,
    metricGroups
      .flatMap((g) => [{ table: g.table, retentionDays: 30 }])
      .concat({ table: 'sn_stat_snapshot', retentionDays: 30 }),
    Date.now(),
  )
  const url = await createTestDatabase(inject('pgUrl'), 'pga_records')
  // DMY dates and a zone far from UTC: a timestamp's text output depends on both.
  monitored = postgres(url, {
    max: 1,
    onnotice: () => {},
    connection: { DateStyle: 'SQL, DMY', TimeZone: 'Asia/Kathmandu' },
  })
  for (const name of awkward) {
    await monitored.unsafe(`create table "${name.replaceAll('"', '""')}" (id int primary key, v text)`)
    await monitored.unsafe(`insert into "${name.replaceAll('"', '""')}" values (1, '')`)
  }
  await monitored`analyze`
})
afterAll(async () => {
  await monitored?.end()
  await store?.end()
})

describe('snapshot row types', () => {
  it('each group has a row type with its columns, in catalog order', async () => {
    for (const group of metricGroups) {
      const rows = await store<{ name: string; type: string }[]>`
        select a.attname::text as name, format_type(a.atttypid, a.atttypmod) as type
          from pg_attribute a join pg_type t on t.typrelid = a.attrelid
         where t.typname = ${`${group.table}_row`} and a.attnum > 0 and not a.attisdropped
         order by a.attnum`
      expect(rows, group.table).toEqual(
        group.columns.map((c) => ({
          name: c.name,
          type: c.type === 'timestamptz' ? 'timestamp with time zone' : c.type,
        })),
      )
    }
  })
})

describe('records and JSON store the same rows', () => {
  it('for every group that runs here, from one execution of its query', async () => {
    const capabilities = await probeCapabilities(monitored)
    const instances = { json: crypto.randomUUID(), records: crypto.randomUUID() }
    const takenAt = new Date().toISOString()
    // Settings changes are remembered per instance (a foreign key to pga_instances).
    for (const [name, id] of Object.entries(instances))
      await store`insert into pga_instances (id, name, host, port, database, username, sslmode)
                  values (${id}, ${`records-${name}`}, 'h', 5432, 'postgres', 'u', 'disable')`
    const [{ datname }] = (await monitored`select current_database()::text as datname`) as unknown as [
      { datname: string },
    ]
    let compared = 0
    let timestamps = 0
    for (const group of metricGroups) {
      const plan = planGroup(group, capabilities)
      if ('unavailable' in plan || plan.sampled) continue
      // Both texts from the same rows: a second run of the query would see other counters.
      const [both] = await monitored.unsafe<{ json: string; records: string }[]>(
        `select coalesce(json_agg(t)::text, '[]') as json, coalesce(array_agg(${recordOf(group.columns)})::text, '{}') as records
           from (${plan.sql}) t`,
        queryParams(group, plan),
      )
      const rowsOf = async (format: 'json' | 'records') => {
        const header = {
          instanceId: instances[format],
          group: group.name,
          datname: group.scope === 'database' ? datname : null,
          takenAt,
          durationMs: 1,
          variant: plan.source,
          replica: 'test',
        }
        const written = await writeSnapshot(store, group, header, both?.[format] ?? '', format)
        return store.unsafe<{ row: string }[]>(
          `select (to_jsonb(t) - 'snap_id' - 'instance_id')::text as row from ${group.table} t
            where snap_id = $1 and taken_at = $2 order by 1`,
          [written.snapId, takenAt],
        )
      }
      const fromJson = (await rowsOf('json')).map((r) => r.row)
      const fromRecords = (await rowsOf('records')).map((r) => r.row)
      expect(fromRecords, group.name).toEqual(fromJson)
      compared += fromJson.length
      timestamps += fromJson.filter((r) =>
        /"(last_|stats_reset|backend_start|xact_start|query_start)[a-z_]*": "\d/.test(r),
      ).length
    }
    // The comparison saw real rows, the awkward names and timestamps among them.
    expect(compared).toBeGreaterThan(50)
    expect(timestamps).toBeGreaterThan(0)
    const tables = await store<{ relname: string }[]>`
      select relname from sn_stat_tables where instance_id = ${instances.records} and relname = any(${awkward})`
    expect(tables.map((t) => t.relname).sort()).toEqual([...awkward].sort())
  })

  it('fetchRows returns records with timestamps as ISO 8601 UTC whatever the server’s DateStyle', async () => {
    const group = metricGroups.find((g) => g.name === 'tables')
    if (!group) throw new Error('no tables group')
    const plan = planGroup(group, await probeCapabilities(monitored))
    if ('unavailable' in plan) throw new Error(plan.unavailable)
    const fetched = await fetchRows(monitored, plan, queryParams(group, plan), group.columns)
    expect(fetched.format).toBe('records')
    expect(fetched.takenAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/)
    expect(fetched.rows).toMatch(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z/)
    expect(fetched.rows).not.toMatch(/\d\d\/\d\d\/\d{4}/)
  })
})
