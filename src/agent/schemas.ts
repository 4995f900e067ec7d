// Schemas of the agent's push (POST /api/v1/agent/metrics). The rows of each host group are
// validated against the catalog's columns (names, types, keys present), so what reaches the store
// is exactly what its sn_sysstat_* table holds; unknown groups or columns are refused.
import { z } from '@hono/zod-openapi'
import { type Column, type MetricGroup, systemGroups } from '../collector/catalog/index.ts'

/** Largest batch: samples per push, rows per group and sample. A day of 15 s samples is 5,760. */
export const maxSamplesPerBatch = 500
export const maxRowsPerGroup = 1000

const int32 = 2 ** 31 - 1

function valueSchema(column: Column): z.ZodType {
  const base = (() => {
    switch (column.type) {
      case 'integer':
        return z.number().int().min(-int32).max(int32)
      case 'bigint':
        return z.number().int()
      case 'double precision':
        return z.number()
      case 'boolean':
        return z.boolean()
      default:
        return z.string().max(1024)
    }
  })()
  return column.kind === 'key' ? base : base.nullable().optional()
}

function rowSchema(group: MetricGroup) {
  return z
    .object(Object.fromEntries(group.columns.map((c) => [c.name, valueSchema(c)])))
    .strict()
    .openapi(`AgentRow_${group.name}`, { description: group.help })
}

const GroupsSchema = z
  .object(
    Object.fromEntries(
      systemGroups.map((g) => [g.name, z.array(rowSchema(g)).max(maxRowsPerGroup).optional()]),
    ),
  )
  .strict()
  .openapi('AgentSampleGroups', {
    description:
      'Rows per host group (see GET /api/v1/metric-groups, source agent); absent groups are not stored.',
  })

export const AgentSampleSchema = z
  .object({
    takenAt: z.iso.datetime({ offset: true }).openapi({ description: 'When the host was read (its clock).' }),
    durationMs: z
      .number()
      .min(0)
      .max(3_600_000)
      .default(0)
      .openapi({ description: 'Time reading the host.' }),
    groups: GroupsSchema,
  })
  .strict()
  .openapi('AgentSample')

export const AgentBatchSchema = z
  .object({
    instanceId: z
      .uuid()
      .openapi({ description: 'The instance this host runs; must be the one the key is bound to.' }),
    agentId: z.uuid().openapi({
      description: 'Identity of the agent’s queue (chosen when its queue directory is created).',
    }),
    sequence: z.number().int().min(1).openapi({
      description:
        'Counts up from 1 in the agent’s queue. (agentId, sequence) is the batch id: a batch at or below the last sequence stored is a duplicate.',
    }),
    agent: z.object({ version: z.string().min(1).max(64), hostname: z.string().min(1).max(255) }).strict(),
    samples: z.array(AgentSampleSchema).min(1).max(maxSamplesPerBatch),
  })
  .strict()
  .superRefine((batch, ctx) => {
    for (let i = 1; i < batch.samples.length; i++) {
      const [previous, current] = [batch.samples[i - 1], batch.samples[i]]
      if (previous && current && Date.parse(current.takenAt) <= Date.parse(previous.takenAt))
        ctx.addIssue({
          code: 'custom',
          path: ['samples', i, 'takenAt'],
          message: 'samples must be in time order',
        })
    }
  })
  .openapi('AgentBatch')

export type AgentBatch = z.output<typeof AgentBatchSchema>

export const AgentBatchResultSchema = z
  .object({
    batchId: z.string().openapi({ description: '<agentId>:<sequence>.', example: '3f0c…:42' }),
    status: z.enum(['stored', 'duplicate']).openapi({
      description: 'duplicate: this batch (or a later one) was stored before; nothing was written again.',
    }),
    samples: z.number().int().openapi({ description: 'Samples stored.' }),
    rows: z.number().int().openapi({ description: 'Rows stored, all groups together.' }),
    skipped: z.number().int().openapi({
      description: 'Group samples not stored: older than the group’s retention or more than a day ahead.',
    }),
  })
  .openapi('AgentBatchResult')
