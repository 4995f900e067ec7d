// Backups (grafana/dashboards/backups.json): is the instance recoverable, and to how recent a
// point: the age of the last good backup and of the continuous WAL in the repository (the RPO),
// failures, sizes and durations over time, and what the last restores and drills achieved (RTO).
import { Board, type DashboardDefinition } from '../board.ts'
import { instanceIs } from '../sql.ts'
import { instanceVariable } from '../variables.ts'

const ofInstance = `backup_metadata where ${instanceIs()}`

const recoverability = (board: Board): Board =>
  board
    .stat('Last successful backup', {
      description: 'Age of the newest completed backup of the instance (any type).',
      sql: `select extract(epoch from now() - max(finished_at)) as "seconds ago" from ${ofInstance} and status = 'completed'`,
      unit: 's',
      thresholds: [
        [93_600, 'orange'],
        [180_000, 'red'],
      ],
      width: 6,
    })
    .stat('Continuous WAL age (RPO)', {
      description:
        'Age of the newest WAL in the repository: what a restore to the latest point would lose now. Over 5 minutes misses the RPO objective.',
      sql: `select extract(epoch from now() - stored_at) as "seconds ago" from backup_wal_streams where ${instanceIs()}`,
      unit: 's',
      thresholds: [
        [60, 'orange'],
        [300, 'red'],
      ],
      width: 6,
      mayBeEmpty: 'continuous WAL is off for the instance, or it has no full backup yet',
    })
    .stat('Failed backups in range', {
      description: 'Backups of the instance that failed in the range (their errors are in the table below).',
      sql: `select count(*) as failed from ${ofInstance} and status = 'failed' and $__timeFilter(created_at)`,
      thresholds: [[1, 'red']],
      width: 6,
    })
    .stat('Last restore RTO', {
      description:
        'Request to restored server consistent and open (drills) or directory written, for the last completed restore of a backup of the instance.',
      sql: `select r.rto_ms / 1000.0 as "RTO" from restore_operations r join backup_metadata b on b.id = r.backup_id
 where ${instanceIs('b.')} and r.status = 'completed' order by r.finished_at desc limit 1`,
      unit: 's',
      thresholds: [[3_600, 'red']],
      width: 6,
      mayBeEmpty: 'no backup of the instance was restored or drilled yet',
    })

const history = (board: Board): Board =>
  board
    .timeseries('Backup sizes', {
      description:
        'Per completed backup: bytes read from the server and bytes it added to the repository (new chunks, compressed and encrypted); incrementals add little.',
      sql: `select finished_at as time, source_size_bytes as "read from the server", stored_size_bytes as "added to the repository"
  from ${ofInstance} and status = 'completed' and $__timeFilter(finished_at) order by 1`,
      unit: 'bytes',
    })
    .timeseries('Backup durations', {
      description: 'Per completed backup: wall time from start to the manifest written.',
      sql: `select finished_at as time, extract(epoch from finished_at - started_at) as "duration"
  from ${ofInstance} and status = 'completed' and $__timeFilter(finished_at) order by 1`,
      unit: 's',
    })
    .table('Backups', {
      description: 'Backups of the instance in the range, newest first, with status, type, size and error.',
      sql: `select started_at as started, backup_type as type, status, compression,
       extract(epoch from finished_at - started_at) as duration, source_size_bytes as "read",
       stored_size_bytes as stored, consistent_at as "consistent at", verified_at as verified, error
  from ${ofInstance} and $__timeFilter(created_at) order by created_at desc limit 50`,
      fieldUnits: { duration: 's', read: 'bytes', stored: 'bytes' },
    })
    .table('Restores and drills', {
      description:
        'Restores of the instance’s backups in the range: mode, target reached, RTO and WAL replayed.',
      sql: `select r.started_at as started, r.mode, r.status, r.target::text as target,
       r.achieved_target::text as achieved, r.rto_ms / 1000.0 as rto, r.wal_segments as "WAL segments",
       r.wal_bytes as "WAL bytes", r.error
  from restore_operations r join backup_metadata b on b.id = r.backup_id
 where ${instanceIs('b.')} and $__timeFilter(r.created_at) order by r.created_at desc limit 50`,
      fieldUnits: { rto: 's', 'WAL bytes': 'bytes' },
      mayBeEmpty: 'no backup of the instance was restored or drilled in the range',
    })

export const backups: DashboardDefinition = {
  file: 'backups.json',
  answers:
    'Can the instance be recovered, to how recent a point (last backup, continuous WAL age), do backups fail, how large and long are they, and what RTO did the last restores and drills achieve?',
  build: () =>
    [recoverability, history].reduce(
      (board, part) => part(board),
      new Board({
        uid: 'pga-backups',
        title: 'pganalytics / Backups',
        description:
          'Backup age and continuous WAL age (RPO), failures, sizes and durations, restores and drills (RTO).',
        variables: [instanceVariable()],
        time: 'now-7d',
      }),
    ),
}
