// Builds the configured StateStore: in-process memory, Redis (ioredis) or Upstash (REST).
import { readFileSync } from 'node:fs'
import type { Config } from '../../config.ts'
import { createMemoryStateStore } from './memory.ts'
import { createRedisStateStore } from './redis.ts'
import type { StateStore } from './state-store.ts'
import { createUpstashStateStore } from './upstash.ts'

/**
 * Creates the StateStore that `config` describes. `readFile` reads the Redis CA bundle named by
 * `tlsCaFile` (injectable for tests and for runtimes that embed files).
 */
export function createStateStore(
  config: Config['state'],
  readFile: (path: string) => string = (path) => readFileSync(path, 'utf8'),
  onConnectionError?: (error: Error) => void,
): StateStore {
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
      })
    case 'upstash':
      return createUpstashStateStore({ url: config.url, token: config.token, keyPrefix: config.keyPrefix })
  }
}
