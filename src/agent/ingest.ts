// Service verbs of host-metric ingestion: who may push for which instance, and storing a batch
// once. A batch is stored in one transaction: the stream's high-water mark moves first (a replayed
// batch stops there as a duplicate), then each host group's rows with their snapshot rows. Samples
// older than their group's retention or more than a day ahead are skipped, not refused, so one bad
// clock reading cannot block an agent's queue. A sample on a day without a partition (an agent
// replaying an outage) creates that day's partitions, then the batch is written again.
import type { Principal } from '../auth/middleware.ts'
import { type MetricGroup, systemGroups } from '../collector/catalog/index.ts'
import { ensurePartitions } from '../collector/partitions.ts'
import { retentionPlan } from '../collector/service.ts'
import type { Config } from '../config.ts'
import { ForbiddenError } from '../http/errors.ts'
import { type Db, withTransaction } from '../platform/db/database.ts'
import * as repo from './repo.ts'
import type { AgentBatch } from './schemas.ts'

export type IngestContext = { db: Db; collector: Config['collector']; now: number }

export type IngestResult = {
  batchId: string
  status: 'stored' | 'duplicate'
  samples: number
  rows: number
  skipped: number
}

const dayMs = 86_400_000

/** The instance a push is for, when the caller may push for it; throws 403 otherwise. */
export function checkAgentBinding(principal: Principal, instanceId: string): void {
  if (principal.type !== 'api_key' || principal.instanceId === null)
    throw new ForbiddenError(
      'agent_key_required',
      'Host metrics are pushed with an agent API key bound to the instance (role agent, instanceId).',
    )
  if (principal.instanceId !== instanceId)
    throw new ForbiddenError(
      'agent_instance_mismatch',
      `This key pushes for instance ${principal.instanceId}; the batch is for ${instanceId}.`,
    )
}

type Plan = { group: MetricGroup; samples: repo.GroupSample[] }

/** Each group's samples within its retention window; how many group samples fell outside. */
function planBatch(
  ctx: IngestContext,
  batch: AgentBatch,
): { plans: Plan[]; skipped: number; days: number[] } {
  let skipped = 0
  const days = new Set<number>()
  const plans = systemGroups.map((group) => {
    const oldest = ctx.now - (ctx.collector.retentionDays[group.name] ?? group.defaultRetentionDays) * dayMs
    const samples: repo.GroupSample[] = []
    for (const sample of batch.samples) {
      const rows = sample.groups[group.name] as Record<string, unknown>[] | undefined
      if (!rows) continue
      const at = Date.parse(sample.takenAt)
      if (at < oldest || at > ctx.now + dayMs) {
        skipped++
        continue
      }
      days.add(Math.floor(at / dayMs) * dayMs)
      samples.push({ takenAt: new Date(at).toISOString(), durationMs: sample.durationMs, rows })
    }
    return { group, samples }
  })
  return { plans: plans.filter((p) => p.samples.length > 0), skipped, days: [...days] }
}

/** Stores a batch once. The caller checked the binding (checkAgentBinding). */
export async function ingestBatch(ctx: IngestContext, batch: AgentBatch): Promise<IngestResult> {
  const batchId = `${batch.agentId}:${batch.sequence}`
  const { plans, skipped, days } = planBatch(ctx, batch)
  const write = () =>
    withTransaction(ctx.db, async (tx) => {
      const fresh = await repo.advanceStream(tx, {
        instanceId: batch.instanceId,
        agentId: batch.agentId,
        sequence: batch.sequence,
        hostname: batch.agent.hostname,
        version: batch.agent.version,
        samples: batch.samples.length,
      })
      if (!fresh) return { batchId, status: 'duplicate' as const, samples: 0, rows: 0, skipped: 0 }
      let rows = 0
      for (const { group, samples } of plans)
        rows += (
          await repo.writeGroupSamples(tx, group, {
            instanceId: batch.instanceId,
            variant: `pganalytics agent ${batch.agent.version}`,
            replica: `agent@${batch.agent.hostname}`,
            samples,
          })
        ).rows
      const stored = new Set(plans.flatMap((p) => p.samples.map((s) => s.takenAt))).size
      return { batchId, status: 'stored' as const, samples: stored, rows, skipped }
    })
  try {
    return await write()
  } catch (error) {
    if ((error as { code?: string }).code !== '23514') throw error
    await createPartitionsFor(ctx, days)
    return write()
  }
}

/** Partitions of the snapshot and host tables for the given UTC days (and the day after each). */
async function createPartitionsFor(ctx: IngestContext, days: number[]): Promise<void> {
  const wanted = new Set(['sn_stat_snapshot', ...systemGroups.map((g) => g.table)])
  const tables = retentionPlan(ctx.collector).filter((t) => wanted.has(t.table))
  for (const day of days) await ensurePartitions(ctx.db, tables, day + dayMs, 0)
}
