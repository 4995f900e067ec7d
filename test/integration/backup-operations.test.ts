// Running backups as an operator would over weeks, on a real PostgreSQL 15: schedules that fire
// (one replica per run), retention that removes whole chains and their WAL, a missed run skipped
// by policy, cancellation, continuous WAL through a restart of the monitored server with the
// recovery status following it, repositories on S3 (s3rver) and Azure Blob (Azurite), backup
// figures in the Prometheus exposition, and backups that outlive their deleted instance.
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { BlobServiceClient } from '@azure/storage-blob'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startAzurite, type TestAzurite } from '../harness/azurite.ts'
import { startPostgres, type TestPostgres } from '../harness/postgres.ts'
import { run, tempDir } from '../harness/processes.ts'
import { startS3, type TestS3 } from '../harness/s3.ts'
import { startTcpGate, type TcpGate } from '../harness/tcp-gate.ts'
import { apiCaller, type Json, settledJob } from '../support/api.ts'
import { startTestApp, type TestApp } from '../support/app.ts'
import { until as waitUntil } from '../support/until.ts'

const adminToken = 'backup-ops-admin-token-0123456789abcdef'
let t: TestApp
let monitored: TestPostgres
let sql: postgres.Sql
let repositoryDir: string
let instanceId = ''
let s3: TestS3
let azurite: TestAzurite
let gate: TcpGate

const call = apiCaller((path, init) => t.app.request(path, init), adminToken)
/** Waits for `probe` with this file's deadline (backups of a loaded machine take their time). */
const until = <T>(what: string, probe: () => Promise<T | undefined | null | false>) =>
  waitUntil(what, probe, { timeoutMs: 120_000, intervalMs: 250 })

const settled = (id: string) => settledJob(call, `/api/v1/backups/${id}`, 120_000)

async function addInstance(name: string, port: number, walStreaming: boolean) {
  const res = await call('POST', '/api/v1/instances?test=false', {
    name,
    host: '127.0.0.1',
    port,
    username: 'postgres',
    sslmode: 'disable',
    enabled: false,
    walStreaming,
  })
  expect(res.status).toBe(201)
  return res.body.id as string
}

beforeAll(async () => {
  monitored = await startPostgres(['wal_level=replica', 'full_page_writes=on'])
  await run(join(monitored.binDir, 'pgbench'), ['-i', '-s', '1', '-q', monitored.url])
  sql = postgres(monitored.url, { max: 1, onnotice: () => {} })
  await sql`create table marks (id serial primary key, label text)`
  repositoryDir = tempDir('backup-ops-repo')
  ;[s3, azurite] = await Promise.all([startS3(), startAzurite()])
  gate = await startTcpGate(monitored.port)
  t = await startTestApp({
    PGA_ADMIN_TOKEN: adminToken,
    PGA_BACKUP_REPOSITORY: repositoryDir,
    PGA_BACKUP_WAL_INTERVAL: '500ms',
  })
  instanceId = await addInstance('ops-target', monitored.port, true)
}, 180_000)

afterAll(async () => {
  await t?.close()
  await gate?.close()
  await Promise.all([s3?.stop(), azurite?.stop()])
  await sql?.end()
  await monitored?.stop()
})

describe('schedules and retention', () => {
  it('fires a due schedule once, keeps one full chain, and deletes the older one with its objects', async () => {
    const created = await call('POST', '/api/v1/backup-schedules', {
      name: 'every-minute',
      instanceId,
      backupType: 'full',
      cronExpression: '* * * * *',
      compression: 'gzip',
      retentionFullCount: 1,
    })
    expect(created.status, JSON.stringify(created.body)).toBe(201)
    expect(Date.parse(created.body.nextRunAt)).toBeGreaterThan(Date.now())
    const ids: string[] = []
    for (let run = 0; run < 2; run++) {
      await t.deps.db
        .sql`update backup_schedule set next_run_at = now() - interval '5 seconds' where id = ${created.body.id}`
      // Two replicas ticking at once: one starts the run.
      await Promise.all([t.deps.backup.tick(), t.deps.backup.tick()])
      const log = await until('the run to start', async () => {
        const { body } = await call('GET', `/api/v1/backup-schedules/${created.body.id}/executions`)
        const started = (body.items as Json[]).filter((e) => e.step === 'backup' && e.status === 'started')
        return started.length === run + 1 ? started : null
      })
      const backupId = log[0]?.backupId as string
      ids.push(backupId)
      expect((await settled(backupId)).status).toBe('completed')
    }
    const [older, newer] = ids as [string, string]
    await until('retention to run', async () => {
      const { body } = await call('GET', `/api/v1/backup-schedules/${created.body.id}/executions`)
      return (body.items as Json[]).some((e) => e.step === 'retention' && e.backupId === newer)
    })
    expect((await call('GET', `/api/v1/backups/${older}`)).body.deletedAt).toMatch(/^\d{4}-\d\d-\d\dT/)
    expect((await call('GET', `/api/v1/backups/${newer}`)).body.deletedAt).toBeNull()
    const leftovers = existsSync(join(repositoryDir, 'backups', older))
      ? readdirSync(join(repositoryDir, 'backups', older), { recursive: true, withFileTypes: true }).filter(
          (d) => d.isFile(),
        )
      : []
    expect(leftovers).toEqual([])
    expect(existsSync(join(repositoryDir, 'backups', newer, 'manifest.json'))).toBe(true)
    const deleted = await t.deps.db.sql`
      select 1 from audit_outbox where event->>'eventType' = 'backup.deleted' and event->>'resourceId' = ${older}`
    expect(deleted).toHaveLength(1)
    await call('DELETE', `/api/v1/backup-schedules/${created.body.id}`)
  }, 300_000)

  it('skips a missed run when the schedule says so, and logs it', async () => {
    const created = await call('POST', '/api/v1/backup-schedules', {
      name: 'skip-missed',
      instanceId,
      backupType: 'full',
      cronExpression: '0 3 * * *',
      missedRunPolicy: 'skip',
    })
    await t.deps.db
      .sql`update backup_schedule set next_run_at = now() - interval '2 hours' where id = ${created.body.id}`
    await t.deps.backup.tick()
    const { body } = await call('GET', `/api/v1/backup-schedules/${created.body.id}/executions`)
    expect(body.items.map((e: Json) => e.status)).toEqual(['skipped'])
    const schedule = (await call('GET', '/api/v1/backup-schedules')).body.items.find(
      (s: Json) => s.id === created.body.id,
    )
    expect(Date.parse(schedule.nextRunAt)).toBeGreaterThan(Date.now())
    await call('DELETE', `/api/v1/backup-schedules/${created.body.id}`)
  })

  it('refuses a cron expression or time zone it cannot use, and a logical schedule without its database', async () => {
    const bad = await call('POST', '/api/v1/backup-schedules', {
      name: 'bad',
      instanceId,
      backupType: 'full',
      cronExpression: 'every day',
    })
    expect([bad.status, bad.body.code]).toEqual([400, 'invalid_cron_expression'])
    const zone = await call('POST', '/api/v1/backup-schedules', {
      name: 'bad-zone',
      instanceId,
      backupType: 'full',
      cronExpression: '0 2 * * *',
      timeZone: 'Mars/Olympus',
    })
    expect([zone.status, zone.body.code]).toEqual([400, 'invalid_time_zone'])
    const logical = await call('POST', '/api/v1/backup-schedules', {
      name: 'logical-without-database',
      instanceId,
      backupType: 'logical',
      cronExpression: '0 2 * * *',
    })
    expect([logical.status, logical.body.code]).toEqual([400, 'database_required'])
  })
})

describe('running backups', () => {
  it('cancels a running backup, removing what it stored', async () => {
    const gated = await addInstance('ops-gated', gate.port, false)
    const started = await call('POST', '/api/v1/backups/trigger', { instanceId: gated, type: 'full' })
    expect(started.status).toBe(202)
    const cancel = await call('POST', `/api/v1/backups/${started.body.id}/cancel`)
    expect([cancel.status, cancel.body.cancelRequested]).toEqual([200, true])
    const done = await settled(started.body.id)
    expect(done.status).toBe('cancelled')
    expect(existsSync(join(repositoryDir, 'backups', started.body.id))).toBe(false)
    const again = await call('POST', `/api/v1/backups/${started.body.id}/cancel`)
    expect([again.status, again.body.code]).toEqual([409, 'backup_not_running'])
  }, 120_000)

  it('refuses a second physical backup of an instance while one runs', async () => {
    const first = await call('POST', '/api/v1/backups/trigger', {
      instanceId,
      type: 'full',
      compression: 'gzip',
    })
    const second = await call('POST', '/api/v1/backups/trigger', {
      instanceId,
      type: 'full',
      compression: 'gzip',
    })
    expect([second.status, second.body.code]).toEqual([409, 'backup_in_progress'])
    expect((await settled(first.body.id)).status).toBe('completed')
  }, 120_000)

  it('streams WAL continuously, also through a restart of the monitored server', async () => {
    await t.deps.backup.wal.sync()
    const caughtUp = async (label: string) => {
      const markedAt = Date.now()
      await sql`insert into marks (label) values (${label})`
      const [row] = await sql<{ lsn: string }[]>`select pg_current_wal_lsn()::text as lsn`
      const target = row?.lsn as string
      let seen: Json = {}
      const body = await waitUntil(
        `WAL up to ${label} (${target}) in the repository`,
        async () => {
          seen = (await call('GET', `/api/v1/instances/${instanceId}/recovery`)).body
          if (!seen.storedLsn) return null
          const [cmp] = await sql<
            { ok: boolean }[]
          >`select ${seen.storedLsn as string}::pg_lsn >= ${target}::pg_lsn as ok`
          return cmp?.ok ? seen : null
        },
        {
          timeoutMs: 120_000,
          intervalMs: 250,
          explain: () =>
            `recovery: ${JSON.stringify(seen)}\n${t.logs
              .text()
              .split('\n')
              .filter((l) => /WAL|wal/.test(l))
              .slice(-20)
              .join('\n')}`,
        },
      )
      // The newest restorable point was stored after the mark was written.
      expect(Date.parse(body.latestRestorableTime)).toBeGreaterThanOrEqual(markedAt)
      expect(body.rpoSeconds).toBeTypeOf('number')
      return body
    }
    const before = await caughtUp('before restart')
    expect(before).toMatchObject({ walStreaming: true, latestBackupId: expect.any(String) })
    await monitored.restart()
    await sql.end()
    sql = postgres(monitored.url, { max: 1, onnotice: () => {} })
    const after = await caughtUp('after restart')
    expect(after.walStreaming).toBe(true)
    const metrics = await (
      await t.app.request('/metrics/instances', { headers: { Authorization: `Bearer ${adminToken}` } })
    ).text()
    expect(metrics).toMatch(
      new RegExp(
        `pga_backup_last_success_timestamp_seconds\\{instance="ops-target",instance_id="${instanceId}"\\} \\d`,
      ),
    )
    expect(metrics).toMatch(/pga_wal_stored_timestamp_seconds\{instance="ops-target"/)
    expect(metrics).toMatch(/pga_backup_failures_total\{instance="ops-gated"[^}]*\} 0/)
  }, 240_000)
})

describe('continuous WAL from the first backup on', () => {
  it('reserves WAL before the first full backup, reports the RPO growing while the receiver fails, and drops the slot when switched off', async () => {
    const id = await addInstance('ops-fresh', monitored.port, true)
    const slot = `pganalytics_${id.replaceAll('-', '').slice(0, 20)}`
    const started = await call('POST', '/api/v1/backups/trigger', {
      instanceId: id,
      type: 'full',
      compression: 'gzip',
    })
    expect((await settled(started.body.id)).status).toBe('completed')
    await t.deps.backup.wal.sync()
    await sql`insert into marks (label) values ('after the first backup')`
    const [row] = await sql<{ lsn: string }[]>`select pg_current_wal_lsn()::text as lsn`
    await until('WAL after the first backup in the repository', async () => {
      const { body } = await call('GET', `/api/v1/instances/${id}/recovery`)
      if (!body.storedLsn) return null
      const [cmp] = await sql<
        { ok: boolean }[]
      >`select ${body.storedLsn as string}::pg_lsn >= ${row?.lsn as string}::pg_lsn as ok`
      return cmp?.ok
    })
    // pg_backup_stop switched segments: without the reserved slot the stream would begin after
    // the backup's first segment, and nothing after the backup could be restored.
    const verified = await call('POST', `/api/v1/backups/${started.body.id}/verify?wait=true`)
    expect(verified.body, JSON.stringify(verified.body)).toMatchObject({ ok: true, wal: { gapAt: null } })
    expect(verified.body.wal.segments).toBeGreaterThanOrEqual(1)

    // A login without REPLICATION: the status query works, pg_receivewal cannot stream.
    await sql`create role pga_no_replication login`
    expect(
      (await call('PATCH', `/api/v1/instances/${id}`, { replicationUsername: 'pga_no_replication' })).status,
    ).toBe(200)
    await t.deps.backup.wal.sync()
    const stale = await until('the RPO to grow with the receiver failing', async () => {
      const { body } = await call('GET', `/api/v1/instances/${id}/recovery`)
      return body.walError && body.rpoSeconds >= 5 ? body : null
    })
    expect(stale.walContinuous).toBe(false)

    expect(
      (
        await call('PATCH', `/api/v1/instances/${id}`, {
          replicationUsername: 'postgres',
          walStreaming: false,
        })
      ).status,
    ).toBe(200)
    await t.deps.backup.wal.sync()
    await until('the slot to be dropped', async () => {
      await t.deps.backup.wal.sync()
      return (await sql`select 1 from pg_replication_slots where slot_name = ${slot}`).length === 0
    })
    expect((await call('GET', `/api/v1/instances/${id}/recovery`)).body.walStreaming).toBe(false)
  }, 240_000)
})

describe('two clusters in one repository', () => {
  it('keeps each cluster’s WAL apart: both restore to their latest point', async () => {
    const other = await startPostgres(['wal_level=replica'])
    try {
      const otherSql = postgres(other.url, { max: 1, onnotice: () => {} })
      await otherSql`create table only_here (id int)`
      const otherId = await addInstance('ops-other-cluster', other.port, true)
      const started = await call('POST', '/api/v1/backups/trigger', { instanceId: otherId, type: 'full' })
      expect((await settled(started.body.id)).status).toBe('completed')
      await t.deps.backup.wal.sync()
      await otherSql`insert into only_here values (1)`
      const [row] = await otherSql<{ lsn: string }[]>`select pg_current_wal_lsn()::text as lsn`
      await until('the other cluster’s WAL in the repository', async () => {
        const { body } = await call('GET', `/api/v1/instances/${otherId}/recovery`)
        if (!body.storedLsn) return null
        const [cmp] = await otherSql<
          { ok: boolean }[]
        >`select ${body.storedLsn as string}::pg_lsn >= ${row?.lsn as string}::pg_lsn as ok`
        return cmp?.ok
      })
      await otherSql.end()
      // Segments of the same names from both clusters, each under its own system identifier.
      expect(readdirSync(join(repositoryDir, 'wal')).length).toBeGreaterThanOrEqual(2)
      const latestOf = async (id: string) =>
        (await call('GET', `/api/v1/instances/${id}/recovery`)).body.latestBackupId
      for (const backupId of [await latestOf(otherId), await latestOf(instanceId)]) {
        const drill = await call('POST', `/api/v1/backups/${backupId}/restore`, { mode: 'verify' })
        expect(drill.status, JSON.stringify(drill.body)).toBe(202)
        const done = await until('the drill', async () => {
          const { body } = await call('GET', `/api/v1/restore-operations/${drill.body.id}`)
          return body.status === 'pending' || body.status === 'running' ? null : body
        })
        expect(done.status, JSON.stringify(done)).toBe('completed')
      }
      expect((await call('PATCH', `/api/v1/instances/${otherId}`, { walStreaming: false })).status).toBe(200)
      await t.deps.backup.wal.sync()
    } finally {
      await other.stop()
    }
  }, 240_000)
})

describe('repositories in object storage', () => {
  it('backs up into S3 and Azure Blob repositories added through the API, and verifies', async () => {
    const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(
      'backups',
    )
    await container.create()
    const repositories = [
      {
        name: 's3-repo',
        url: `s3://${s3.bucket}/pga`,
        endpoint: s3.endpoint,
        forcePathStyle: true,
        accessKeyId: 'S3RVER',
        secretAccessKey: 'S3RVER',
      },
      {
        name: 'azure-repo',
        url: `azure://${azurite.account}/backups/pga`,
        endpoint: azurite.endpoint,
        accountKey: azurite.accountKey,
      },
    ]
    for (const input of repositories) {
      const created = await call('POST', '/api/v1/backup-repositories', input)
      expect(created.status, JSON.stringify(created.body)).toBe(201)
      expect(JSON.stringify(created.body)).not.toMatch(/S3RVER|accountKey/)
      const started = await call('POST', '/api/v1/backups/trigger', {
        instanceId,
        type: 'full',
        repository: input.name,
      })
      const done = await settled(started.body.id)
      expect(done.status, done.error).toBe('completed')
      expect(done.repositoryId).toBe(created.body.id)
      const verified = await call('POST', `/api/v1/backups/${started.body.id}/verify?wait=true`)
      expect(verified.body, input.name).toMatchObject({ ok: true })
    }
    const wrong = await call('POST', '/api/v1/backup-repositories', {
      ...repositories[0],
      name: 's3-wrong',
      accessKeyId: 'NOPE',
    })
    expect([wrong.status, wrong.body.code]).toEqual([409, 'repository_unreachable'])
    expect(JSON.stringify(wrong.body)).not.toContain('S3RVER')
  }, 300_000)
})

describe('deleted instances', () => {
  it('keeps the backups of a deleted instance, by name, in the history', async () => {
    const doomed = await addInstance('ops-doomed', monitored.port, false)
    const started = await call('POST', '/api/v1/backups/trigger', {
      instanceId: doomed,
      type: 'logical',
      database: 'postgres',
    })
    expect((await settled(started.body.id)).status).toBe('completed')
    expect((await call('DELETE', `/api/v1/instances/${doomed}`)).status).toBe(204)
    const kept = await call('GET', `/api/v1/backups/${started.body.id}`)
    expect(kept.body).toMatchObject({ instanceId: null, instanceName: 'ops-doomed', status: 'completed' })
    expect(readdirSync(join(repositoryDir, 'backups', started.body.id))).toContain('manifest.json')
  }, 120_000)
})
