// Schemas of the read API over snapshots.
import { z } from '@hono/zod-openapi'
import { allGroupNames } from '../collector/catalog/index.ts'

const iso = (description: string) =>
  z.iso.datetime({ offset: true }).optional().openapi({ description, example: '2026-11-21T10:00:00Z' })

export const GroupParams = z.object({
  id: z.uuid().openapi({ param: { name: 'id', in: 'path' } }),
  group: z.string().openapi({
    param: { name: 'group', in: 'path' },
    example: 'database',
    description: allGroupNames.join(', '),
  }),
})

export const SeriesQuery = z.object({
  from: iso('Start (default: an hour before `to`).'),
  to: iso('End (default: now).'),
  step: z.coerce.number().int().min(1).max(86_400).optional().openapi({
    description: 'Seconds per point: the last sample of each step is kept (default: ≤ 500 points).',
  }),
  database: z.string().min(1).max(63).optional().openapi({ description: 'Only rows of this database.' }),
  mode: z.enum(['raw', 'delta', 'rate']).default('raw').openapi({
    description:
      'raw counters, or their delta / per-second rate since the previous point (null across a reset).',
  }),
})

const ColumnSchema = z.object({
  name: z.string(),
  type: z.string(),
  kind: z.enum(['key', 'label', 'counter', 'gauge', 'info']),
  unit: z.string().nullable(),
})
const Row = z.record(z.string(), z.unknown()).openapi({ description: 'time plus the group’s columns.' })

export const SeriesSchema = z
  .object({
    instanceId: z.uuid(),
    group: z.string(),
    mode: z.enum(['raw', 'delta', 'rate']),
    from: z.string(),
    to: z.string(),
    stepSeconds: z.number().int(),
    columns: z.array(ColumnSchema),
    rows: z.array(Row),
  })
  .openapi('MetricSeries')

export const LatestSchema = z
  .object({ instanceId: z.uuid(), group: z.string(), rows: z.array(Row) })
  .openapi('LatestMetrics')

export const InstanceParams = z.object({ id: z.uuid().openapi({ param: { name: 'id', in: 'path' } }) })

export const SnapshotsQuery = z.object({
  from: iso('Start (default: an hour before `to`).'),
  to: iso('End (default: now).'),
  group: z.string().optional().openapi({ description: 'Only this group.' }),
  status: z.enum(['ok', 'failed', 'unavailable']).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
})

export const SnapshotListSchema = z
  .object({
    items: z.array(
      z.object({
        snapId: z.string(),
        group: z.string(),
        datname: z.string().nullable(),
        takenAt: z.string(),
        durationMs: z.number(),
        status: z.string(),
        errorCode: z.string().nullable(),
        error: z.string().nullable(),
        rowCount: z.number().int(),
        variant: z.string().nullable(),
        replica: z.string(),
      }),
    ),
  })
  .openapi('SnapshotList')

export const TopStatementsQuery = z.object({
  from: iso('Start (default: an hour before `to`).'),
  to: iso('End (default: now).'),
  orderBy: z.enum(['total_time', 'calls', 'mean_time', 'io']).default('total_time'),
  limit: z.coerce.number().int().min(1).max(100).default(20),
})

export const TopStatementsSchema = z
  .object({ from: z.string(), to: z.string(), orderBy: z.string(), items: z.array(Row) })
  .openapi('TopStatements')

export const ReportQuery = z.object({
  from: z.iso.datetime({ offset: true }).openapi({ description: 'First point.' }),
  to: z.iso.datetime({ offset: true }).openapi({ description: 'Second point.' }),
})

export const ReportSchema = z
  .object({
    instance: z.object({ id: z.uuid(), name: z.string() }),
    from: z.string(),
    to: z.string(),
    sections: z.record(z.string(), z.array(Row)),
  })
  .openapi('ComparisonReport')

export const MetricGroupListSchema = z
  .object({
    items: z.array(
      z.object({
        name: z.string(),
        scope: z.enum(['instance', 'database']),
        source: z.enum(['collector', 'agent']).openapi({
          description: 'collector: queried over SQL; agent: pushed by `pganalytics agent` from the host.',
        }),
        help: z.string(),
        defaultIntervalSeconds: z.number().int(),
        defaultRetentionDays: z.number().int(),
        privileges: z.string(),
        sources: z.array(z.string()),
        columns: z.array(ColumnSchema.extend({ help: z.string() })),
      }),
    ),
  })
  .openapi('MetricGroupList')

export const ExpositionQuery = z.object({
  groups: z
    .string()
    .regex(/^[a-z_]+(,[a-z_]+)*$/)
    .optional()
    .openapi({
      description:
        'Comma-separated groups (default: all but tables, indexes, statements, locks, xmin_horizon, table_ages, sequences, index_hygiene, functions, session_samples, table_bloat, index_bloat, bloat_approx, buffer_usage).',
    }),
})
