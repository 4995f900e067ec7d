// Backup figures in the Prometheus exposition of the instances (/metrics/instances), from the
// records, so every replica answers the same: last success, size, failures, what is running,
// and how fresh the restorable point of continuous WAL is (the RPO an alert watches).
import type { Db } from '../platform/db/database.ts'
import { formatLabels } from '../platform/metrics/registry.ts'

type Line = {
  name: string
  help: string
  type: 'gauge' | 'counter'
  samples: [Record<string, string>, number][]
}

/** The backup families, in exposition order (a family without samples is left out). */
export const backupFamilies: readonly Omit<Line, 'samples'>[] = [
  {
    name: 'pga_backup_last_success_timestamp_seconds',
    help: 'When the last backup of the instance completed.',
    type: 'gauge',
  },
  {
    name: 'pga_backup_last_size_bytes',
    help: 'Bytes read by the last completed backup.',
    type: 'gauge',
  },
  {
    name: 'pga_backup_failures_total',
    help: 'Backups of the instance that failed (as recorded).',
    type: 'counter',
  },
  { name: 'pga_backup_running', help: 'Backups of the instance running now.', type: 'gauge' },
  {
    name: 'pga_backup_progress_ratio',
    help: 'Share of the running backup done (bytes read / database size).',
    type: 'gauge',
  },
  {
    name: 'pga_wal_stored_timestamp_seconds',
    help: 'When continuous WAL last reached the repository: time() minus this is the RPO.',
    type: 'gauge',
  },
]

export async function backupExposition(db: Db): Promise<string[]> {
  const rows = await db<
    {
      instance: string
      instanceId: string
      lastSuccess: number | null
      lastSize: string | null
      failures: number
      running: number
      progress: number | null
      walStoredAt: number | null
    }[]
  >`
    select i.name as instance, i.id::text as "instanceId",
      (select extract(epoch from max(finished_at))::float8 from backup_metadata b
        where b.instance_id = i.id and b.status = 'completed') as "lastSuccess",
      (select source_size_bytes::text from backup_metadata b
        where b.instance_id = i.id and b.status = 'completed' order by finished_at desc limit 1) as "lastSize",
      (select count(*)::int from backup_metadata b where b.instance_id = i.id and b.status = 'failed') as failures,
      (select count(*)::int from backup_metadata b where b.instance_id = i.id and b.status = 'running') as running,
      (select max(((progress->>'bytesDone')::float8 / nullif((progress->>'bytesTotal')::float8, 0)))
        from backup_metadata b where b.instance_id = i.id and b.status = 'running') as progress,
      (select extract(epoch from stored_at)::float8 from backup_wal_streams w where w.instance_id = i.id) as "walStoredAt"
    from pga_instances i
    where exists (select 1 from backup_metadata b where b.instance_id = i.id)`
  const families: Line[] = backupFamilies.map((f) => ({ ...f, samples: [] }))
  const [last, size, failures, running, progress, wal] = families as [Line, Line, Line, Line, Line, Line]
  for (const row of rows) {
    const l = { instance: row.instance, instance_id: row.instanceId }
    if (row.lastSuccess !== null) last.samples.push([l, row.lastSuccess])
    if (row.lastSize !== null) size.samples.push([l, Number(row.lastSize)])
    failures.samples.push([l, row.failures])
    running.samples.push([l, row.running])
    if (row.progress !== null) progress.samples.push([l, row.progress])
    if (row.walStoredAt !== null) wal.samples.push([l, row.walStoredAt])
  }
  return families
    .filter((f) => f.samples.length > 0)
    .flatMap((f) => [
      `# HELP ${f.name} ${f.help}`,
      `# TYPE ${f.name} ${f.type}`,
      ...f.samples.map(([l, v]) => `${f.name}${formatLabels(l)} ${v}`),
    ])
}
