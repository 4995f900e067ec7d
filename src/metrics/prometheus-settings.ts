// The settings alerts compare against, in the exposition as pga_setting{name}: connection limits,
// freeze ages, WAL sizes and timeouts, from the settings as last seen (pga_instance_settings).
// Sizes are in bytes and times in seconds whatever unit pg_settings uses; -1 (off, unlimited)
// stays -1.
import type { Db } from '../platform/db/database.ts'
import { formatLabels } from '../platform/metrics/registry.ts'

export const exportedSettings = [
  'max_connections',
  'superuser_reserved_connections',
  'reserved_connections',
  'autovacuum_freeze_max_age',
  'autovacuum_multixact_freeze_max_age',
  'max_wal_size',
  'wal_keep_size',
  'max_slot_wal_keep_size',
  'wal_segment_size',
  'checkpoint_timeout',
  'archive_timeout',
  'shared_buffers',
  'work_mem',
]

const unitFactor: Record<string, number> = {
  B: 1,
  kB: 1024,
  '8kB': 8192,
  '16kB': 16384,
  '32kB': 32768,
  MB: 1_048_576,
  GB: 1_073_741_824,
  TB: 1_099_511_627_776,
  us: 0.000_001,
  ms: 0.001,
  s: 1,
  min: 60,
  h: 3600,
  d: 86_400,
}

/** A setting's value in bytes or seconds, or null when it is not a number. */
export function settingValue(setting: string, unit: string | null): number | null {
  const value = Number(setting)
  if (!Number.isFinite(value)) return null
  if (value < 0) return value
  return value * (unit ? (unitFactor[unit] ?? 1) : 1)
}

/** Lines of the pga_setting family for every instance. */
export async function settingLines(db: Db): Promise<string[]> {
  const rows = await db<
    { instance: string; instance_id: string; name: string; setting: string; unit: string | null }[]
  >`
    select i.name as instance, s.instance_id::text, s.name, s.setting, s.unit
      from pga_instance_settings s join pga_instances i on i.id = s.instance_id
     where s.name = any(${exportedSettings}) order by i.name, s.name`
  const samples = rows.flatMap((r) => {
    const value = settingValue(r.setting, r.unit)
    return value === null
      ? []
      : [
          `pga_setting${formatLabels({ instance: r.instance, instance_id: r.instance_id, name: r.name })} ${value}`,
        ]
  })
  if (samples.length === 0) return []
  return [
    '# HELP pga_setting Server settings alerts compare against (sizes in bytes, times in seconds; -1: off or unlimited).',
    '# TYPE pga_setting gauge',
    ...samples,
  ]
}
