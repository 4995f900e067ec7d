// Builds the configured StateStore: in-process memory, Redis (ioredis) or Upstash (REST).
import { readFileSync } from 'node:fs'
import type { Config } from '../../config.ts'
import { createMemoryStateStore } from './memory.ts'
import { createRedisStateStore } from './redis.ts'
import type { StateStore } from './state-store.ts'
import { createUpstashStateStore } from './upstash.ts'

export type StateStoreHooks = {
  /** Reads the Redis CA bundle named by `tlsCaFile` (injectable for runtimes that embed files). */
  readFile?: (path: string) => string
  /** Redis connection errors while ioredis reconnects. */
  onConnectionError?: (error: Error) => void
  /** Why Redis refused the tracking behind getManyCached (it then reads Redis every time). */
  onCacheUnavailable?: (reason: string) => void
}

/** Creates the StateStore that `config` describes. */
export function createStateStore(config: Config['state'], hooks: StateStoreHooks = {}): StateStore {
  const {
    readFile = (path: string) => readFileSync(path, 'utf8'),
    onConnectionError,
    onCacheUnavailable,
  } = hooks
  switch (config.kind) {
    case 'memory':
      return createMemoryStateStore()
    case 'redis':
      return createRedisStateStore({
        url: config.url,
        mode: config.mode,
        sentinels: config.sentinels,
        sentinelMaster: config.sentinelMaster,
        clusterNodes: config.clusterNodes,
        keyPrefix: config.keyPrefix,
        ...(config.tlsCaFile ? { tlsCaPem: readFile(config.tlsCaFile) } : {}),
        ...(onConnectionError ? { onError: onConnectionError } : {}),
        ...(onCacheUnavailable ? { onCacheUnavailable } : {}),
      })
    case 'upstash':
      return createUpstashStateStore({ url: config.url, token: config.token, keyPrefix: config.keyPrefix })
  }
}
