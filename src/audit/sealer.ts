// The sealer moves outbox events into the hash chain. Exactly one replica seals at a time (a
// lease in the state store); and even two overlapping sealers cannot fork the chain, because a
// batch runs in one transaction under an advisory lock and reads the head inside it. A batch
// inserts its entries and a signed checkpoint and deletes its outbox rows together, so a crash
// at any point leaves either all of it or none of it.
import type { Keyring } from '../keys/keyring.ts'
import { type Db, type Sql, withTransaction } from '../platform/db/database.ts'
import type { Logger } from '../platform/log.ts'
import type { Lease, StateStore } from '../platform/state/state-store.ts'
import {
  type AuditEntry,
  type CheckpointBody,
  checkpointHash,
  checkpointPayload,
  contentHash,
  genesisHash,
} from './chain.ts'
import type { CheckpointSink } from './checkpoint-sink.ts'
import type { OutboxEvent } from './events.ts'
import { appendLeaf, emptyFrontier, type Frontier, frontierRoot, leafHash } from './merkle.ts'
import { loadSigningKey, type SigningKey, sign } from './signing-key.ts'

export type Checkpoint = CheckpointBody & { checkpoint_hash: string; signature: string; frontier: string[] }

export type SealerOptions = {
  /** The pool (not a transaction): the sealer opens its own transactions and listens. */
  db: Sql
  state: StateStore
  keyring: () => Keyring
  log: Logger
  holder: string
  batchSize?: number
  /** Wait after an empty poll; it doubles on each further empty poll up to maxIdleMs (500 ms, or
   * 5 s while listening), and an idle poll is one cheap statement instead of the sealing
   * transaction. */
  idleMs?: number
  maxIdleMs?: number
  /** Wake on the outbox's notification (migration 0022: a trigger on audit_outbox notifies
   * `pga_audit_outbox`, delivered when the writing transaction commits), so an event written by
   * any replica is sealed at once and the idle poll can be rare. Off for the embedded store. */
  listen?: boolean
  leaseMs?: number
  /** Receives each committed checkpoint (export outside the database). */
  sink?: CheckpointSink
  /** Archiving, run by the replica that seals, beside sealing, every intervalMs. */
  archiver?: { run(): Promise<unknown>; intervalMs: number }
}

/** The chain entry an outbox event becomes at position `id` (what content_hash covers). */
export function entryOf(event: OutboxEvent, id: number, sealedAt: string, previousHash: string): AuditEntry {
  return {
    id,
    event_id: event.eventId,
    event_type: event.eventType,
    resource_type: event.resourceType,
    resource_id: event.resourceId,
    action: event.action,
    outcome: event.outcome,
    actor_type: event.actorType,
    actor_id: event.actorId,
    session_id: event.sessionId,
    request_id: event.requestId,
    ip_address: event.ipAddress,
    user_agent: event.userAgent,
    changes: event.changes,
    old_values: event.oldValues,
    new_values: event.newValues,
    created_at: new Date(event.createdAt).toISOString(),
    sealed_at: sealedAt,
    previous_hash: previousHash,
  }
}

/** The channel migration 0022's trigger notifies when outbox rows commit. */
const outboxChannel = 'pga_audit_outbox'

/** Whether anything waits to be sealed (the idle poll). */
async function outboxHasEvents(db: Db): Promise<boolean> {
  const rows = await db`select 1 from audit_outbox limit 1`
  return rows.length > 0
}

/** Seals one batch. Returns the checkpoint, or null when the outbox was empty. */
export async function sealBatch(db: Db, key: SigningKey, batchSize: number): Promise<Checkpoint | null> {
  return withTransaction(db, async (tx) => {
    await tx`select pg_advisory_xact_lock(hashtext('pga_audit_sealer'))`
    const outbox = await tx<{ id: string; event: OutboxEvent }[]>`
      select id::text, event from audit_outbox order by audit_outbox.id limit ${batchSize}`
    if (outbox.length === 0) return null
    const [head] = await tx<{ tree_size: string; checkpoint_hash: string; frontier: string[] }[]>`
      select v.tree_size::text, v.checkpoint_hash, v.frontier from audit_log_verification v
       order by v.tree_size desc limit 1` // v.: order by the number, not its text (9000 > 10000)
    const [last] = await tx<
      { content_hash: string }[]
    >`select content_hash from audit_logs order by id desc limit 1`
    let frontier: Frontier = head
      ? { size: Number(head.tree_size), roots: head.frontier.map((h) => Buffer.from(h, 'hex')) }
      : emptyFrontier()
    let previous = last?.content_hash ?? genesisHash
    const sealedAt = new Date().toISOString()
    const ids: number[] = []
    const previousHashes: string[] = []
    const hashes: string[] = []
    for (const { event } of outbox) {
      const entry = entryOf(event, frontier.size + 1, sealedAt, previous)
      const hash = contentHash(entry)
      ids.push(entry.id)
      previousHashes.push(previous)
      hashes.push(hash)
      frontier = appendLeaf(frontier, leafHash(Buffer.from(hash, 'hex')))
      previous = hash
    }
    // The rows move inside the server: only ids and hashes are sent, not the documents again.
    // Each column is read from the same outbox document the hash was computed over.
    const moved = await tx`
      with chained as (
        select * from unnest(${outbox.map((o) => o.id)}::bigint[], ${ids}::bigint[], ${previousHashes}::text[],
                             ${hashes}::text[]) as c(outbox_id, id, previous_hash, content_hash)
      ), moved as (
        delete from audit_outbox a using chained c where a.id = c.outbox_id
        returning c.id, c.previous_hash, c.content_hash, a.event as e
      )
      insert into audit_logs (id, event_id, event_type, resource_type, resource_id, action, outcome, actor_type, actor_id,
                              session_id, request_id, ip_address, user_agent, changes, old_values, new_values,
                              created_at, sealed_at, previous_hash, content_hash)
      select id, (e->>'eventId')::uuid, e->>'eventType', e->>'resourceType', e->>'resourceId', e->>'action',
             e->>'outcome', e->>'actorType', e->>'actorId', e->>'sessionId', e->>'requestId', e->>'ipAddress',
             e->>'userAgent', e->'changes', nullif(e->'oldValues', 'null'), nullif(e->'newValues', 'null'),
             (e->>'createdAt')::timestamptz, ${sealedAt}::timestamptz, previous_hash, content_hash
        from moved`
    // Only this transaction removes outbox rows (advisory lock), so every row read is still there.
    if (moved.count !== outbox.length)
      throw new Error(`sealed ${moved.count} of ${outbox.length} outbox rows`)
    const body: CheckpointBody = {
      tree_size: frontier.size,
      root_hash: frontierRoot(frontier).toString('hex'),
      previous_checkpoint_hash: head?.checkpoint_hash ?? genesisHash,
      key_id: key.keyId,
      created_at: sealedAt,
    }
    const checkpoint: Checkpoint = {
      ...body,
      checkpoint_hash: checkpointHash(body),
      signature: await sign(key, checkpointPayload(body)),
      frontier: frontier.roots.map((r) => r.toString('hex')),
    }
    await tx`
      insert into audit_log_verification (tree_size, root_hash, frontier, previous_checkpoint_hash, checkpoint_hash,
                                          signature, key_id, created_at)
      values (${checkpoint.tree_size}, ${checkpoint.root_hash}, ${tx.json(checkpoint.frontier)},
              ${checkpoint.previous_checkpoint_hash}, ${checkpoint.checkpoint_hash}, ${checkpoint.signature},
              ${checkpoint.key_id}, ${checkpoint.created_at})`
    return checkpoint
  })
}

/** The sealing loop of one replica: seals while it holds the lease, idles when the outbox is empty. */
export class AuditSealer {
  private lease: Lease | null = null
  private stopped = false
  private loop: Promise<void> | undefined
  private key: SigningKey | undefined
  private wake: (() => void) | undefined
  /** A nudge that came while the loop was busy: the next sleep returns at once. */
  private nudged = false
  private listener: { unlisten(): Promise<void> } | null | undefined
  private archiving: Promise<void> | null = null
  private archiveAt = 0

  constructor(private readonly options: SealerOptions) {}

  start(): void {
    this.loop = this.run()
  }

  /** Seals now instead of at the next idle poll (on the outbox's notification; tests call it too). */
  nudge(): void {
    this.nudged = true
    this.wake?.()
  }

  /** Listens once, by the first lease holder; where notifications are refused (a pooler in
   * transaction mode), the sealer polls every 500 ms as before. */
  private async listenForEvents() {
    if (!this.options.listen || this.listener !== undefined) return
    try {
      this.listener = await this.options.db.listen(outboxChannel, () => this.nudge())
    } catch (error) {
      this.listener = null
      this.options.log.warn('audit outbox notifications unavailable; polling every 500 ms', {
        error: String(error),
      })
    }
  }

  private async run() {
    const { state, holder, log } = this.options
    const leaseMs = this.options.leaseMs ?? 10_000
    let renewAt = 0
    let idleFor = 0
    while (!this.stopped) {
      try {
        if (!this.lease || Date.now() >= renewAt) {
          const held = this.lease !== null
          this.lease = this.lease
            ? (await state.renewLease(this.lease, leaseMs))
              ? this.lease
              : null
            : await state.acquireLease('audit:sealer', holder, leaseMs)
          renewAt = Date.now() + leaseMs / 3
          if (this.lease && !held) log.info('audit sealer active', { holder, fence: this.lease.fence })
          if (!this.lease && held) log.warn('audit sealer lease lost', { holder })
        }
        if (!this.lease) {
          await this.sleep(leaseMs / 3)
          continue
        }
        if (!this.key) {
          this.key = await loadSigningKey(this.options.db, this.options.keyring())
          await this.exportLatestIfBehind()
          await this.listenForEvents()
        }
        this.archiveIfDue()
        // Idle, a poll is one statement outside a transaction: an idle replica kept the store
        // busy with four round trips every 100 ms (most of an idle service's CPU, issue 17), and
        // while notifications wake it, one every 5 s is only a safety net.
        const checkpoint =
          idleFor > 0 && !(await outboxHasEvents(this.options.db))
            ? null
            : await sealBatch(this.options.db, this.key, this.options.batchSize ?? 1000)
        if (checkpoint) {
          idleFor = 0
          await this.export(checkpoint)
        } else {
          const idleMs = this.options.idleMs ?? 100
          const maxIdleMs = this.options.maxIdleMs ?? (this.listener ? 5000 : 500)
          idleFor = Math.min(maxIdleMs, idleFor === 0 ? idleMs : idleFor * 2)
          await this.sleep(idleFor)
        }
      } catch (error) {
        log.error('audit sealing failed; retrying', { error: String(error) })
        await this.sleep(1000)
      }
    }
  }

  /** Starts an archiving run when due; it goes on beside sealing (it removes old entries, sealing
   * appends new ones) and a failure is retried at the next interval. */
  private archiveIfDue() {
    const archiver = this.options.archiver
    if (!archiver || this.archiving || Date.now() < this.archiveAt) return
    this.archiveAt = Date.now() + archiver.intervalMs
    this.archiving = archiver
      .run()
      .then(
        () => {},
        (error) =>
          this.options.log.error('audit archiving failed; retrying at the next interval', {
            error: String(error),
          }),
      )
      .finally(() => {
        this.archiving = null
      })
  }

  /** A crash between a batch's commit and its export leaves the sink behind: catch up on start. */
  private async exportLatestIfBehind() {
    const sink = this.options.sink
    if (!sink) return
    const [latest] = await this.options.db<Checkpoint[]>`
      select tree_size::float8, root_hash, frontier, previous_checkpoint_hash, checkpoint_hash, signature, key_id,
             created_at from audit_log_verification order by audit_log_verification.tree_size desc limit 1`
    const exported = await sink.latest()
    if (latest && (!exported || exported.tree_size < latest.tree_size))
      await this.export({ ...latest, created_at: new Date(latest.created_at).toISOString() })
  }

  /** Exports a checkpoint; a failure is logged and the next checkpoint (which covers it) retried. */
  private async export(checkpoint: Checkpoint) {
    await this.options.sink?.write(checkpoint).catch((error) =>
      this.options.log.error('could not export audit checkpoint', {
        treeSize: checkpoint.tree_size,
        sink: this.options.sink?.description,
        error: String(error),
      }),
    )
  }

  private sleep(ms: number) {
    if (this.nudged) {
      this.nudged = false
      return Promise.resolve()
    }
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer)
        this.wake = undefined
        this.nudged = false
        resolve()
      }
      const timer = setTimeout(done, ms)
      this.wake = done
    })
  }

  async stop(): Promise<void> {
    this.stopped = true
    this.wake?.()
    await this.loop
    await this.listener?.unlisten().catch(() => {})
    await this.archiving
    if (this.lease) await this.options.state.releaseLease(this.lease).catch(() => false)
  }
}
