// A replica's copy of the values it reads on almost every request (a session record and its
// revocation), kept current by Redis itself: server-assisted client-side caching. One connection
// reads with CLIENT TRACKING ON REDIRECT <id>; Redis remembers every key it read and, when one of
// them changes, expires or is flushed, pushes the key's name to a second connection subscribed to
// __redis__:invalidate (RESP2, so it works through the same servers and Sentinels as the rest).
//
// The copy is only trusted while both connections are up and tracking is confirmed: any close or
// reconnection empties it and reads go to Redis until tracking is armed again. A read whose
// answer could predate an invalidation (one arrived while it was on the wire) is not kept, and a
// write through this replica drops its copy before it is sent, so this replica sees its own
// writes at once and the others within a push (well under a millisecond on a LAN).
// Cluster mode does not use it (tracking would need a pair of connections per master).
import type { Redis } from 'ioredis'

const invalidationChannel = '__redis__:invalidate'
/** A safety net, not the mechanism: no copy is older than this even if a push were lost. */
const MAX_AGE_MS = 60_000
/** Keys kept at most; past it the copy starts over (one MGET per key to fill it again). */
const MAX_ENTRIES = 50_000

export type TrackedCacheStats = { armed: boolean; hits: number; misses: number; invalidations: number }

export class TrackedCache {
  private readonly entries = new Map<string, { value: string | null; at: number }>()
  /** Grows with every invalidation, forget and disarm: a read started before it changed is not kept. */
  private generation = 0
  private armed = false
  /** Grows when a connection closes: an arming that straddled it does not count. */
  private connections = 0
  private arming: Promise<void> | undefined
  private subscriberId: string | undefined
  private readonly reader: Redis
  private readonly subscriber: Redis
  private closed = false
  private readonly stats = { hits: 0, misses: 0, invalidations: 0 }

  /** `client` is the store's own connection; the cache opens two more like it. `onUnavailable`
   * hears why tracking could not be armed (a server or proxy without CLIENT TRACKING, an ACL). */
  constructor(
    client: Redis,
    private readonly onUnavailable: (reason: string) => void,
  ) {
    this.reader = client.duplicate({ connectionName: 'pga-tracked-reads', enableAutoPipelining: true })
    this.subscriber = client.duplicate({
      connectionName: 'pga-invalidations',
      autoResubscribe: false,
      enableAutoPipelining: false,
    })
    this.subscriber.on('messageBuffer', (channel: Buffer, keys: Buffer[] | Buffer | null) => {
      if (channel.toString() === invalidationChannel) this.invalidate(keys)
    })
    for (const connection of [this.reader, this.subscriber]) {
      connection.on('error', () => {}) // the store's own client reports connection errors
      connection.on('close', () => this.disarm(connection === this.subscriber))
      connection.on('ready', () => this.arm())
    }
  }

  /** The values of `keys` (full Redis names) when the copy holds every one of them, else undefined. */
  peek(keys: readonly string[]): (string | null)[] | undefined {
    if (!this.armed) {
      this.stats.misses++
      return undefined
    }
    const now = Date.now()
    const values: (string | null)[] = []
    for (const key of keys) {
      const entry = this.entries.get(key)
      if (!entry || now - entry.at > MAX_AGE_MS) {
        this.stats.misses++
        return undefined
      }
      values.push(entry.value)
    }
    this.stats.hits++
    return values
  }

  /** One MGET; on the tracked connection while armed (and kept), else `untracked`. */
  async read(keys: readonly string[], untracked: (keys: readonly string[]) => Promise<(string | null)[]>) {
    if (!this.armed) return untracked(keys)
    const generation = this.generation
    const at = Date.now()
    const fresh = await this.reader.mget(...keys)
    if (this.armed && generation === this.generation) {
      if (this.entries.size + keys.length > MAX_ENTRIES) this.entries.clear()
      for (const [i, key] of keys.entries()) this.entries.set(key, { value: fresh[i] ?? null, at })
    }
    return fresh
  }

  /** Drops this replica's copy of `key` before a write to it leaves. */
  forget(key: string) {
    this.generation++
    this.entries.delete(key)
  }

  snapshot(): TrackedCacheStats {
    return { armed: this.armed, ...this.stats }
  }

  close() {
    this.closed = true
    this.disarm(true)
    this.reader.disconnect()
    this.subscriber.disconnect()
  }

  private invalidate(keys: Buffer[] | Buffer | null) {
    this.generation++
    this.stats.invalidations++
    // null: the database was flushed (FLUSHDB, FLUSHALL) or tracking lost its table.
    if (keys === null) this.entries.clear()
    else for (const key of Array.isArray(keys) ? keys : [keys]) this.entries.delete(key.toString())
  }

  private disarm(subscriberGone: boolean) {
    this.armed = false
    this.connections++
    this.generation++
    this.entries.clear()
    if (subscriberGone) this.subscriberId = undefined
  }

  /** Once both connections are ready: subscribe, then turn tracking on towards the subscriber. */
  private arm() {
    if (this.closed || this.arming || this.reader.status !== 'ready' || this.subscriber.status !== 'ready')
      return
    const connections = this.connections
    this.arming = (async () => {
      try {
        if (this.subscriberId === undefined) {
          const id = String(await this.subscriber.client('ID'))
          await this.subscriber.subscribe(invalidationChannel)
          this.subscriberId = id
        }
        await this.reader.client('TRACKING', 'ON', 'REDIRECT', this.subscriberId)
        if (connections === this.connections) this.armed = true
      } catch (error) {
        if (connections === this.connections) this.onUnavailable((error as Error).message)
      } finally {
        this.arming = undefined
      }
      // A connection dropped and came back while this ran: its 'ready' found us busy.
      if (connections !== this.connections) this.arm()
    })()
  }
}
