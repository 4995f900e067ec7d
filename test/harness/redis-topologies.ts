// Throwaway Redis topologies for tests, all on 127.0.0.1 with free ports and temp dirs: a TLS
// server with its own CA and an ACL user, a Sentinel watching a password-protected master, and a
// three-master Cluster. Each starter returns stop(), which stops every process it started by PID.
import { randomBytes } from 'node:crypto'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { makeCertificates } from './certificates.ts'
import { freePort, run, spawn, stopChild, tempDir, waitForPort } from './processes.ts'
import { startRedis, type TestRedis } from './redis.ts'

export type HostPort = { host: string; port: number }

export type TestTlsRedis = {
  /** rediss://user:password@127.0.0.1:port (no database index). */
  url: string
  port: number
  username: string
  password: string
  /** PEM file of the CA that signed the server certificate. */
  caFile: string
  caPem: string
  stop(): Promise<void>
}

export type TestRedisSentinel = {
  masterName: string
  /** requirepass of the master; the Sentinel knows it through `sentinel auth-pass`. */
  masterPassword: string
  sentinels: HostPort[]
  masterPort: number
  stop(): Promise<void>
}

export type TestRedisCluster = {
  /** redis://:password@127.0.0.1:port of the first node. */
  url: string
  password: string
  nodes: HostPort[]
  stop(): Promise<void>
}

const secret = () => randomBytes(12).toString('hex')

/** Distinct free ports (freePort alone may hand out the same port twice). */
async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>()
  while (ports.size < count) ports.add(await freePort())
  return [...ports]
}

/** Polls `check` until it returns true, or throws `what` after timeoutMs. */
async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`${what} within ${timeoutMs} ms`)
}

/** Runs redis-cli against one server; the password goes through REDISCLI_AUTH, not argv. */
async function redisCli(port: number, args: string[], password?: string): Promise<string> {
  const env = { ...process.env, ...(password ? { REDISCLI_AUTH: password } : {}) }
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { env })
  return stdout
}

/** Runs every stopper in order, even when one fails, so no process is left behind. */
async function stopAll(stoppers: (() => Promise<void>)[]): Promise<void> {
  const errors: unknown[] = []
  for (const stop of stoppers) await stop().catch((error: unknown) => errors.push(error))
  if (errors.length > 0) throw new AggregateError(errors, 'stopping a Redis topology failed')
}

/**
 * Starts redis-server accepting only TLS (plain port off) with a certificate from a throwaway CA.
 * The default user is off; the only user is `pga` with a random password, so a client must take
 * both username and password from the URL.
 */
export async function startTlsRedis(): Promise<TestTlsRedis> {
  const dir = tempDir('redis-tls')
  try {
    const certs = await makeCertificates(dir)
    const port = await freePort()
    const password = secret()
    const redis = await startRedis(
      [
        'port 0',
        `tls-port ${port}`,
        `tls-cert-file ${certs.cert}`,
        `tls-key-file ${certs.key}`,
        `tls-ca-cert-file ${certs.ca}`,
        'tls-auth-clients no',
        'user default off',
        `user pga on >${password} ~* &* +@all`,
      ],
      { port },
    )
    return {
      url: `rediss://pga:${password}@127.0.0.1:${port}`,
      port,
      username: 'pga',
      password,
      caFile: certs.ca,
      caPem: readFileSync(certs.ca, 'utf8'),
      async stop() {
        await redis.stop()
        rmSync(dir, { recursive: true, force: true })
      },
    }
  } catch (error) {
    rmSync(dir, { recursive: true, force: true })
    throw error
  }
}

/**
 * Starts a password-protected master and one Sentinel (`redis-server sentinel.conf --sentinel`)
 * monitoring it as `mymaster` with quorum 1. Resolves once the Sentinel sees the master healthy,
 * which needs `sentinel auth-pass` to be right.
 */
export async function startRedisSentinel(): Promise<TestRedisSentinel> {
  const masterName = 'mymaster'
  const masterPassword = secret()
  const stoppers: (() => Promise<void>)[] = []
  try {
    const master = await startRedis([`requirepass ${masterPassword}`])
    stoppers.push(() => master.stop())
    const dir = tempDir('redis-sentinel')
    stoppers.push(async () => rmSync(dir, { recursive: true, force: true }))
    const port = await freePort()
    const conf = join(dir, 'sentinel.conf')
    writeFileSync(
      conf,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${masterName} 127.0.0.1 ${master.port} 1`,
        `sentinel auth-pass ${masterName} ${masterPassword}`,
        `sentinel down-after-milliseconds ${masterName} 5000`,
        '',
      ].join('\n'),
    )
    const sentinel = spawn('redis-server', [conf, '--sentinel'], { stdio: ['ignore', 'ignore', 'inherit'] })
    stoppers.unshift(() => stopChild(sentinel))
    await waitForPort(port)
    await waitUntil('the Sentinel did not report the master as healthy', async () => {
      const lines = (await redisCli(port, ['sentinel', 'master', masterName])).trim().split('\n')
      const flags = lines[lines.indexOf('flags') + 1]
      return flags === 'master'
    })
    return {
      masterName,
      masterPassword,
      sentinels: [{ host: '127.0.0.1', port }],
      masterPort: master.port,
      stop: () => stopAll(stoppers),
    }
  } catch (error) {
    await stopAll(stoppers).catch(() => {})
    throw error
  }
}

/**
 * Starts three password-protected cluster-enabled servers (bus ports chosen explicitly, since
 * port + 10000 may be taken or out of range), joins them with `redis-cli --cluster create` with
 * no replicas, and resolves once every node reports `cluster_state:ok`.
 */
export async function startRedisCluster(): Promise<TestRedisCluster> {
  const password = secret()
  const servers: TestRedis[] = []
  try {
    const ports = await freePorts(6)
    const nodePorts = ports.slice(0, 3)
    const started = await Promise.allSettled(
      nodePorts.map((port, i) =>
        startRedis(
          [
            'cluster-enabled yes',
            'cluster-config-file nodes.conf',
            `cluster-port ${ports[3 + i]}`,
            'cluster-node-timeout 5000',
            `requirepass ${password}`,
            `masterauth ${password}`,
          ],
          { port },
        ),
      ),
    )
    for (const result of started) if (result.status === 'fulfilled') servers.push(result.value)
    const failed = started.find((result) => result.status === 'rejected')
    if (failed) throw failed.reason
    const addresses = nodePorts.map((port) => `127.0.0.1:${port}`)
    await run(
      'redis-cli',
      ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'],
      {
        env: { ...process.env, REDISCLI_AUTH: password },
      },
    )
    for (const port of nodePorts) {
      await waitUntil(`cluster node ${port} did not reach cluster_state:ok`, async () =>
        (await redisCli(port, ['cluster', 'info'], password)).includes('cluster_state:ok'),
      )
    }
    return {
      url: `redis://:${password}@127.0.0.1:${nodePorts[0]}`,
      password,
      nodes: nodePorts.map((port) => ({ host: '127.0.0.1', port })),
      stop: () => stopAll(servers.map((server) => () => server.stop())),
    }
  } catch (error) {
    await stopAll(servers.map((server) => () => server.stop())).catch(() => {})
    throw error
  }
}
