// The replication rig itself: WAL reaches the archive directory, the standby streams through its
// slot and replays the primary's writes (caughtUp waits for that), and pg_stat_statements is
// loadable on the primary.
import { existsSync, readdirSync } from 'node:fs'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ReplicationRig, startReplicationRig } from '../harness/replication-rig.ts'

let rig: ReplicationRig
let primary: postgres.Sql
let standby: postgres.Sql

beforeAll(async () => {
  rig = await startReplicationRig()
  primary = postgres(rig.primaryUrl, { max: 1, onnotice: () => {} })
  standby = postgres(rig.standbyUrl, { max: 1, onnotice: () => {} })
})
afterAll(async () => {
  await Promise.all([primary?.end(), standby?.end()])
  await rig?.stop()
  // Calling it twice must be harmless.
  await rig?.stop()
})

/** Polls `check` until it returns true, or fails with `what` after timeoutMs. */
async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`${what} within ${timeoutMs} ms`)
}

describe('replication rig', () => {
  it('archives a switched WAL segment into archiveDir', async () => {
    await primary`create table rig_archive (id int)`
    await primary`insert into rig_archive select generate_series(1, 10)`
    await primary`select pg_switch_wal()`
    await waitUntil('no WAL segment was archived', async () => {
      const [row] = await primary<{ archived_count: string }[]>`select archived_count from pg_stat_archiver`
      return (
        Number(row?.archived_count) > 0 &&
        existsSync(rig.archiveDir) &&
        readdirSync(rig.archiveDir).length > 0
      )
    })
    expect(readdirSync(rig.archiveDir).some((name) => /^[0-9A-F]{24}$/.test(name))).toBe(true)
  })

  it('has a hot standby streaming from the primary and replaying its writes', async () => {
    const [recovery] = await standby<{ in_recovery: boolean }[]>`select pg_is_in_recovery() as in_recovery`
    expect(recovery?.in_recovery).toBe(true)
    const [receiver] = await standby<{ status: string }[]>`select status from pg_stat_wal_receiver`
    expect(receiver?.status).toBe('streaming')

    await primary`create table rig_rows (id int primary key)`
    await primary`insert into rig_rows select generate_series(1, 100)`
    await waitUntil('the standby did not see the primary rows', async () => {
      const [table] = await standby<
        { exists: boolean }[]
      >`select to_regclass('rig_rows') is not null as exists`
      if (!table?.exists) return false
      const [row] = await standby<{ n: number }[]>`select count(*)::int as n from rig_rows`
      return row?.n === 100
    })

    await waitUntil('the primary did not report a replay_lsn', async () => {
      const [row] = await primary<{ replay_lsn: string | null }[]>`select replay_lsn from pg_stat_replication`
      return row?.replay_lsn != null
    })
  })

  it('caughtUp waits until the standby has replayed what the primary wrote before it', async () => {
    await standby`select pg_wal_replay_pause()`
    await primary`create role rig_caught_up`
    // Replay paused: the role cannot reach the standby, so caughtUp must not resolve.
    await expect(rig.caughtUp(1_000)).rejects.toThrow(/had not replayed/)
    expect(await standby`select 1 from pg_roles where rolname = 'rig_caught_up'`).toHaveLength(0)
    await standby`select pg_wal_replay_resume()`
    await rig.caughtUp()
    expect(await standby`select 1 from pg_roles where rolname = 'rig_caught_up'`).toHaveLength(1)
  })

  it('can create pg_stat_statements on the primary', async () => {
    await primary`create extension if not exists pg_stat_statements`
    const [row] = await primary<{ n: number }[]>`select count(*)::int as n from pg_stat_statements`
    expect(row?.n).toBeGreaterThan(0)
  })
})
