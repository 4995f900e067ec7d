// The agent's loop: every interval, read the host, put the sample in the on-disk queue, then send
// what is queued, oldest first, until the queue is empty, the server stops answering or most of
// the interval is spent (so readings keep their cadence during a long replay). Problems are logged
// when they start and end, not on every tick; the key never appears in a log line.
import { hostname } from 'node:os'
import type { Logger } from '../platform/log.ts'
import { buildInfo } from '../system/build-info.ts'
import type { AgentConfig } from './config.ts'
import { type PushTarget, pushBatch } from './push.ts'
import { AgentQueue } from './queue.ts'
import { HostSampler, type Sample } from './sampler.ts'

export type FlushSummary = {
  sent: number
  duplicates: number
  rejected: number
  waiting: number
  problem?: string
}

export class Agent {
  private readonly queue: AgentQueue
  private readonly sampler: HostSampler
  private readonly target: PushTarget
  private problem: string | undefined

  constructor(
    private readonly config: AgentConfig,
    private readonly log: Logger,
    fetchImpl: typeof fetch = fetch,
  ) {
    this.queue = AgentQueue.open(config.queueDir, config.queueMaxBytes)
    this.sampler = new HostSampler(config, log)
    this.target = {
      url: config.url,
      key: config.key,
      timeoutMs: config.timeoutMs,
      userAgent: `pganalytics-agent/${buildInfo.version}`,
      fetch: fetchImpl,
    }
  }

  get agentId(): string {
    return this.queue.agentId
  }

  /** Batches waiting in the queue. */
  get waiting(): number {
    return this.queue.length
  }

  /** Reads the host once and queues the sample as a batch. Returns its sequence. */
  async sample(): Promise<number> {
    const sample = await this.sampler.sample()
    const dropped = this.queue.dropped
    const sequence = this.queue.enqueue((seq, agentId) => this.batchBody(seq, agentId, sample))
    if (this.queue.dropped > dropped)
      this.log.warn('agent queue full: dropped the oldest batches', {
        dropped: this.queue.dropped - dropped,
        queueBytes: this.queue.size,
      })
    return sequence
  }

  private batchBody(sequence: number, agentId: string, sample: Sample): string {
    return JSON.stringify({
      instanceId: this.config.instanceId,
      agentId,
      sequence,
      agent: { version: buildInfo.version, hostname: hostname() },
      samples: [sample],
    })
  }

  /** Sends queued batches oldest first; stops at the first one the server cannot take now. */
  async flush(budgetMs = Number.POSITIVE_INFINITY): Promise<FlushSummary> {
    const until = performance.now() + budgetMs
    const summary: FlushSummary = { sent: 0, duplicates: 0, rejected: 0, waiting: 0 }
    for (let batch = this.queue.oldest(); batch && performance.now() < until; batch = this.queue.oldest()) {
      const outcome = await pushBatch(this.target, batch.body)
      if (outcome.kind === 'acknowledged') {
        this.queue.acknowledge(batch.sequence)
        if (outcome.status === 'duplicate') summary.duplicates++
        else summary.sent++
        continue
      }
      if (outcome.kind === 'rejected') {
        this.queue.reject(batch.sequence)
        summary.rejected++
        this.log.error('the server refused a batch as invalid; set aside in rejected/', {
          sequence: batch.sequence,
          status: outcome.httpStatus,
          code: outcome.code,
          detail: outcome.detail,
        })
        continue
      }
      summary.problem =
        outcome.kind === 'unavailable'
          ? `unreachable (${outcome.reason})`
          : `refused (${outcome.httpStatus} ${outcome.code}): ${outcome.detail}`
      break
    }
    summary.waiting = this.queue.length
    this.report(summary)
    return summary
  }

  /** Logs a problem when it starts or changes, and its end with what was delivered. */
  private report(summary: FlushSummary): void {
    if (summary.problem && summary.problem !== this.problem)
      this.log[summary.problem.startsWith('refused') ? 'error' : 'warn'](
        'cannot deliver host metrics; buffering',
        {
          problem: summary.problem,
          waiting: summary.waiting,
        },
      )
    if (!summary.problem && this.problem)
      this.log.info('delivering host metrics again', { sent: summary.sent, waiting: summary.waiting })
    this.problem = summary.problem
  }

  /** Reads, queues and sends every interval until the signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    this.log.info('pganalytics agent started', {
      url: this.config.url,
      instanceId: this.config.instanceId,
      agentId: this.agentId,
      intervalMs: this.config.intervalMs,
      waiting: this.queue.length,
    })
    while (!signal.aborted) {
      const started = performance.now()
      await this.sample()
      await this.flush(this.config.intervalMs * 0.8)
      const wait = Math.max(0, this.config.intervalMs - (performance.now() - started))
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait)
        signal.addEventListener(
          'abort',
          () => {
            clearTimeout(timer)
            resolve()
          },
          { once: true },
        )
      })
    }
    this.log.info('pganalytics agent stopped', { waiting: this.queue.length })
  }

  close(): void {
    this.queue.close()
  }
}
