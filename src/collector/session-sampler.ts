// The session sampler of one instance: runs the session_samples group's one-sample query every
// few seconds on a connection of its own and keeps only running sums per combination of
// database, backend type, state, wait event and query_id, so memory stays bounded (at most
// `maxSeries` combinations between two snapshots; observations of further ones are counted as
// dropped). A snapshot drains the sums. Samples never overlap; a failed sample is skipped.
import type postgres from 'postgres'
import { withDeadline } from '../platform/deadline.ts'

type SampleRow = {
  datname: string | null
  backend_type: string | null
  state: string | null
  wait_event_type: string | null
  wait_event: string | null
  query_id: string | null
  samples: string | number
  wait_event_description: string | null
  sampler: string
}

export type SamplerOptions = {
  periodMs: number
  /** Rows per sample and per snapshot (the group's row limit). */
  rowLimit: number
  maxSeries: number
  deadlineMs: number
  /** Tears the connection down when a sample gets no answer within deadlineMs. */
  onTimeout(error: Error): void
  onError(error: unknown): void
}

export type DrainedSamples = { rows: string; sampleCount: number; droppedObservations: number }

export class SessionSampler {
  private readonly sums = new Map<string, SampleRow & { total: number }>()
  private sampleCount = 0
  private dropped = 0
  private timer: ReturnType<typeof setTimeout> | undefined
  private inFlight: Promise<void> | undefined
  private stopped = false

  constructor(
    private readonly sql: postgres.Sql,
    private readonly sampleSql: string,
    private readonly options: SamplerOptions,
  ) {}

  start(): void {
    if (this.timer || this.stopped) return
    this.schedule()
  }

  private schedule() {
    if (this.stopped) return
    this.timer = setTimeout(() => {
      this.inFlight = this.sampleOnce().finally(() => {
        this.inFlight = undefined
        this.schedule()
      })
    }, this.options.periodMs)
    // A sampler never keeps the process alive on its own.
    this.timer.unref?.()
  }

  /** One sample: one short query, merged into the sums. */
  async sampleOnce(): Promise<void> {
    try {
      const rows = await withDeadline(
        this.sql.unsafe<SampleRow[]>(this.sampleSql, [String(this.options.rowLimit)], { prepare: true }),
        this.options.deadlineMs,
        (error) => this.options.onTimeout(error),
      )
      if (this.stopped) return
      this.sampleCount++
      for (const row of rows) this.add(row)
    } catch (error) {
      if (!this.stopped) this.options.onError(error)
    }
  }

  private add(row: SampleRow) {
    const id = JSON.stringify([
      row.datname,
      row.backend_type,
      row.state,
      row.wait_event_type,
      row.wait_event,
      row.query_id,
    ])
    const samples = Number(row.samples)
    const known = this.sums.get(id)
    if (known) known.total += samples
    else if (this.sums.size < this.options.maxSeries) this.sums.set(id, { ...row, total: samples })
    else this.dropped += samples
  }

  /** The sums since the last drain as the group's rows (JSON array text, the largest first, at
   * most rowLimit), and starts over. */
  drain(): DrainedSamples {
    const sampleCount = this.sampleCount
    const rows = [...this.sums.values()]
      .sort((a, b) => b.total - a.total)
      .slice(0, this.options.rowLimit)
      .map(({ total, samples: _, ...row }) => ({
        ...row,
        samples: total,
        samples_taken: sampleCount,
        avg_sessions: sampleCount > 0 ? total / sampleCount : null,
      }))
    const droppedObservations = this.dropped
    this.sums.clear()
    this.sampleCount = 0
    this.dropped = 0
    return { rows: JSON.stringify(rows), sampleCount, droppedObservations }
  }

  /** Stops sampling; waits for a sample in flight. The connection is the caller's to close. */
  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    await this.inFlight
  }
}
