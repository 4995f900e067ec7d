// A Redis StateStore on one server (no Sentinel, no Cluster), as the state-store tests open them.
import { createRedisStateStore, type RedisStateStoreOptions } from '../../src/platform/state/redis.ts'

export const standaloneRedisStore = (
  url: string,
  keyPrefix: string,
  extra: Partial<RedisStateStoreOptions> = {},
) =>
  createRedisStateStore({
    url,
    mode: 'standalone',
    sentinels: [],
    sentinelMaster: 'mymaster',
    clusterNodes: [],
    keyPrefix,
    ...extra,
  })
