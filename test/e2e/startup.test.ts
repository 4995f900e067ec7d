// Start-up of the compiled binary: readiness waits for the store (migrated), the keyring and the
// accounts, not for what runs in the background (partition upkeep and the collector, backup
// scheduling, the audit sealer), which starts right after. Partition upkeep is held back here by
// holding its advisory lock from another session: the service is ready all the same, a SIGTERM
// while the upkeep still waits exits 0, and once the lock is free the collector collects.
import postgres from 'postgres'
import { afterEach, beforeAll, describe, expect, inject, it } from 'vitest'
import { createTestDatabase } from '../harness/postgres.ts'
import { testMasterKey } from '../support/master-key.ts'
import { binaryInEmptyDir, type ServiceProcess, startService } from '../support/service-process.ts'
import { until } from '../support/until.ts'

let binary: string
beforeAll(async () => {
  binary = await binaryInEmptyDir('startup')
}, 240_000)

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

/** A fresh store with the partition upkeep lock (src/collector/partitions.ts) held by this test. */
async function storeWithUpkeepHeld() {
  const url = await createTestDatabase(inject('pgUrl'))
  const sql = postgres(url, { max: 2, onnotice: () => {} })
  cleanups.push(() => sql.end())
  const holder = await sql.reserve()
  await holder`select pg_advisory_lock(hashtext('pga_snapshot_partitions'))`
  let held = true
  const release = async () => {
    if (!held) return
    held = false
    await holder`select pg_advisory_unlock(hashtext('pga_snapshot_partitions'))`
    holder.release()
  }
  cleanups.push(release)
  /** Whether a session of this database waits for an advisory lock (the upkeep, blocked). */
  const upkeepWaits = async () => {
    const [row] = await sql<{ n: number }[]>`
      select count(*)::int as n from pg_locks
       where locktype = 'advisory' and not granted
         and database = (select oid from pg_database where datname = current_database())`
    return (row?.n ?? 0) > 0
  }
  return { url, sql, release, upkeepWaits }
}

async function start(url: string): Promise<ServiceProcess> {
  const service = await startService({
    command: binary,
    env: {
      DATABASE_URL: url,
      REDIS_URL: inject('redisUrl'),
      PGA_MASTER_KEY: testMasterKey,
      PGA_SELF_MONITOR: 'true',
      PGA_SHUTDOWN_GRACE: '2s',
      PGA_LOG_LEVEL: 'info',
    },
    timeoutMs: 60_000,
  })
  cleanups.push(() => service.stop())
  return service
}

const errorLines = (service: ServiceProcess) =>
  service.lines.filter((line) => line.includes('"level":"error"'))

describe('start-up', () => {
  it('is ready while partition upkeep waits, and exits 0 on SIGTERM before the upkeep could run', async () => {
    const store = await storeWithUpkeepHeld()
    // startService waits for /readyz 200: readiness does not wait for the collector's start.
    const service = await start(store.url)
    await until('the upkeep waits for its lock', store.upkeepWaits, {
      explain: () => service.lines.join('\n'),
    })
    expect((await fetch(`${service.url}/readyz`)).status).toBe(200)

    expect(await service.stop('SIGTERM')).toBe(0)
    expect(service.lines.some((line) => line.includes('"msg":"stopped"'))).toBe(true)
    expect(errorLines(service)).toEqual([])
    // The session that waited for the lock ends once PostgreSQL sees its client gone, which a
    // backend waiting for a lock notices only when it gets it: release, then nothing is left.
    await store.release()
    await until('no session of the service is left', async () => {
      const [row] = await store.sql<{ n: number }[]>`
        select count(*)::int as n from pg_stat_activity
         where datname = current_database() and application_name = 'pganalytics'`
      return row?.n === 0
    })
    expect(await store.upkeepWaits()).toBe(false)
  }, 90_000)

  it('starts collecting once the background start can proceed', async () => {
    const store = await storeWithUpkeepHeld()
    const service = await start(store.url)
    await until('the upkeep waits for its lock', store.upkeepWaits, {
      explain: () => service.lines.join('\n'),
    })
    // Held back: the scheduler has not started, so nothing was collected yet.
    const [before] = await store.sql<{ n: number }[]>`select count(*)::int as n from sn_stat_snapshot`
    expect(before?.n).toBe(0)

    await store.release()
    const [snapshot] = await until(
      'a snapshot of the store (self-monitoring)',
      async () => {
        const rows = await store.sql<{ status: string }[]>`
          select s.status from sn_stat_snapshot s join pga_instances i on i.id = s.instance_id
           where i.is_self and s.status = 'ok' limit 1`
        return rows.length > 0 && rows
      },
      { timeoutMs: 60_000, explain: () => service.lines.join('\n') },
    )
    expect(snapshot?.status).toBe('ok')
    expect(await service.stop('SIGTERM')).toBe(0)
    expect(errorLines(service)).toEqual([])
  }, 120_000)
})
