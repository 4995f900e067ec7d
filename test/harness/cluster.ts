// N replicas of the compiled binary sharing one PostgreSQL database and their own Redis, each on
// a fixed port so it can be killed and restarted behind a balancer. Used by the failover tests
// and bench/failover.ts. Everything started here is stopped by PID in `stop()`.

import { testMasterKey } from '../support/master-key.ts'
import { binaryInEmptyDir, type ServiceProcess, startService } from '../support/service-process.ts'
import { createTestDatabase } from './postgres.ts'
import { freePort, tempDir } from './processes.ts'
import { startRedis, type TestRedis } from './redis.ts'

export type Replica = { index: number; port: number; address: string; process: ServiceProcess }

export type Cluster = {
  replicas: Replica[]
  adminEmail: string
  adminPassword: string
  databaseUrl: string
  redisUrl: string
  /** host:port of every replica, in order. */
  addresses(): string[]
  /** SIGKILL: no drain, no goodbye. Resolves once the process is gone. */
  kill(index: number): Promise<void>
  /** SIGTERM: drain and exit; resolves with the exit code. */
  terminate(index: number): Promise<number | null>
  /** Starts a stopped replica again on its port; resolves once /readyz says 200. */
  start(index: number): Promise<void>
  /** Stops Redis (data lost: no persistence, as a crashed cache would) and starts it again on its
   * port after `downMs`. */
  restartRedis(downMs: number): Promise<void>
  stop(): Promise<void>
}

export async function startCluster(options: {
  replicas: number
  pgUrl: string
  env?: Record<string, string>
}): Promise<Cluster> {
  const binary = await binaryInEmptyDir('cluster')
  const adminEmail = 'cluster-admin@example.com'
  const adminPassword = 'a long cluster admin passphrase'
  const databaseUrl = await createTestDatabase(options.pgUrl)
  let redis: TestRedis = await startRedis()
  const env = {
    DATABASE_URL: databaseUrl,
    REDIS_URL: redis.url,
    PGA_MASTER_KEY: testMasterKey,
    PGA_ADMIN_EMAIL: adminEmail,
    PGA_ADMIN_PASSWORD: adminPassword,
    PGA_COLLECTOR_ENABLED: 'false',
    // The balancers run on this host: only they may name the client in X-Forwarded-For.
    PGA_TRUSTED_PROXIES: '127.0.0.1/32',
    PGA_AUTH_RATE_PER_ADDRESS: '100000',
    ...options.env,
  }
  const replicas: Replica[] = []
  const startReplica = async (index: number, port: number) => {
    const process = await startService({
      command: binary,
      cwd: tempDir(`replica-${index}`),
      env,
      port,
      timeoutMs: 60_000,
    })
    replicas[index] = { index, port, address: `127.0.0.1:${port}`, process }
  }
  // One after the other: the first migrates and creates the administrator.
  for (let i = 0; i < options.replicas; i++) await startReplica(i, await freePort())

  const replica = (index: number) => {
    const found = replicas[index]
    if (!found) throw new Error(`no replica ${index}`)
    return found
  }
  return {
    replicas,
    adminEmail,
    adminPassword,
    databaseUrl,
    get redisUrl() {
      return redis.url
    },
    addresses: () => replicas.map((r) => r.address),
    async kill(index) {
      await replica(index).process.stop('SIGKILL')
    },
    terminate: (index) => replica(index).process.stop('SIGTERM'),
    start: (index) => startReplica(index, replica(index).port),
    async restartRedis(downMs) {
      const port = redis.port
      await redis.stop()
      await new Promise((resolve) => setTimeout(resolve, downMs))
      redis = await startRedis([], { port })
    },
    async stop() {
      await Promise.all(replicas.map((r) => r.process.stop('SIGTERM')))
      await redis.stop()
    },
  }
}
