// Configuration: one table of variables over the environment, parsed once at start-up, frozen,
// passed in. Nothing else in the service reads process.env.
import { type SsoConfig, ssoConfig, ssoVariables } from './auth/sso/config.ts'
import { type BackupConfig, backupConfig, backupVariables } from './backup/config.ts'
import { allGroupNames } from './collector/catalog/index.ts'
import {
  boolean,
  ConfigError,
  type ConfigIssue,
  cidrList,
  commaList,
  defineVariables,
  duration,
  Expected,
  email,
  hostPortList,
  integer,
  masterKey,
  matching,
  minLength,
  oneOf,
  optional,
  text,
  url,
  variableTable,
} from './config-kit.ts'
import { type InstancesConfig, instancesConfig, instanceVariables } from './instances/config.ts'
import { type BlobStoreConfig, parseBlobUrl, type S3Settings } from './platform/blob/blob-store.ts'

export { ConfigError, type ConfigIssue } from './config-kit.ts'

const groupDaysPattern = /^([a-z_]+=\d+(,[a-z_]+=\d+)*)?$/

/** "statements=7,activity=3": days per metric group, group names checked against the catalog. */
const groupDays = {
  parse(value: string): Record<string, number> | Expected {
    if (!groupDaysPattern.test(value)) return new Expected('a comma-separated list of group=days')
    const days: Record<string, number> = Object.fromEntries(
      value
        .split(',')
        .filter(Boolean)
        .map((pair) => pair.split('=') as [string, string])
        .map(([group, count]) => [group, Number(count)]),
    )
    const messages: string[] = []
    if (!Object.keys(days).every((group) => allGroupNames.includes(group)))
      messages.push(`known group names (${allGroupNames.join(', ')}) with days`)
    if (!Object.values(days).every((d) => d >= 1 && d <= 3650)) messages.push('days between 1 and 3650')
    return messages.length > 0 ? new Expected(...messages) : days
  },
}

/** Where archive bundles go: a URL parseBlobUrl takes. */
const archiveUrl = {
  parse(value: string): string | Expected {
    try {
      parseBlobUrl(value, { region: '', forcePathStyle: false })
      return value
    } catch {
      return new Expected('s3://bucket/prefix, file:///path or a directory')
    }
  },
}

/** The service's own variables (HTTP, stores, keys, auth, audit, collector). */
const coreVariables = defineVariables({
  PGA_HOST: {
    parser: text,
    default: '127.0.0.1',
    example: '0.0.0.0',
    doc: 'Address the HTTP server binds to.',
  },
  PGA_PORT: {
    parser: integer(0, 65535),
    default: '8080',
    example: '8080',
    doc: 'TCP port of the HTTP server (0 picks a free port).',
  },
  PGA_DATA_DIR: {
    parser: text,
    default: './data',
    example: '/var/lib/pganalytics',
    doc: 'Directory of the embedded store (used only when DATABASE_URL is unset).',
  },
  PGA_LOG_LEVEL: {
    parser: oneOf(['debug', 'info', 'warn', 'error'], 'one of debug, info, warn, error'),
    default: 'info',
    example: 'debug',
    doc: 'Lowest level written to the JSON log on stdout.',
  },
  PGA_SHUTDOWN_GRACE: {
    parser: duration,
    default: '10s',
    example: '30s',
    doc: 'How long SIGTERM waits for in-flight requests before closing pools.',
  },
  PGA_SHUTDOWN_DELAY: {
    parser: duration,
    default: '0s',
    example: '2s',
    doc: "After SIGTERM, how long new requests are still served (/readyz 503, Connection: close) before the wait for in-flight ones: at least the balancer's fall × inter. A second signal cuts it short. Leave 0 under Kubernetes (the preStop sleep does this).",
  },
  PGA_BODY_LIMIT: {
    parser: integer(1024, 1 << 30),
    default: '1048576',
    example: '262144',
    doc: 'Largest accepted request body, in bytes (413 above it).',
  },
  PGA_CORS_ORIGINS: {
    parser: commaList,
    default: '',
    example: 'https://grafana.example.com',
    doc: 'Comma-separated origins allowed by CORS; empty turns CORS off.',
  },
  PGA_TRUSTED_PROXIES: {
    parser: cidrList,
    default: '',
    example: '10.0.0.0/8,fd00::/8',
    doc: 'Addresses or CIDR blocks of the load balancers in front of the service. Only a peer inside them may name the client in X-Forwarded-For, Forwarded or X-Real-IP (walked from the right, skipping trusted hops); from anyone else those headers are ignored and the socket peer is the client. Empty: every peer is the client.',
  },
  PGA_IDEMPOTENCY_TTL: {
    parser: duration,
    default: '24h',
    example: '48h',
    doc: 'How long the response to a request with an Idempotency-Key is kept for replay (in the state store).',
  },
  PGA_IDEMPOTENCY_WAIT: {
    parser: duration,
    default: '5s',
    example: '10s',
    doc: 'How long a retry waits for the first request with the same Idempotency-Key to finish (or for its replica to be found dead) before answering 409 idempotency_in_progress.',
  },
  PGA_METRICS_ENABLED: {
    parser: boolean,
    default: 'true',
    example: 'false',
    doc: 'Serve Prometheus metrics on /metrics.',
  },
  DATABASE_URL: {
    parser: optional(url(['postgres:', 'postgresql:'])),
    default: undefined,
    example: 'postgres://pga:secret@db:5432/pganalytics',
    doc: 'External PostgreSQL store. Unset: embedded PGlite in PGA_DATA_DIR (single replica only).',
  },
  PGA_DB_POOL_SIZE: {
    parser: integer(1, 500),
    default: '10',
    example: '20',
    doc: 'Connections in the store pool (the embedded store always uses 1).',
  },
  PGA_DB_STATEMENT_TIMEOUT: {
    parser: duration,
    default: '30s',
    example: '5s',
    doc: 'statement_timeout set on every store connection.',
  },
  PGA_DB_CONNECT_TIMEOUT: {
    parser: duration,
    default: '10s',
    example: '3s',
    doc: 'Timeout for opening a store connection.',
  },
  PGA_DB_SSL: {
    parser: oneOf(
      ['disable', 'prefer', 'require', 'verify-full'],
      'one of disable, prefer, require, verify-full',
    ),
    default: 'prefer',
    example: 'verify-full',
    doc: 'TLS mode towards the external store.',
  },
  PGA_DB_SSL_CA_FILE: {
    parser: optional(text),
    default: undefined,
    example: '/etc/ssl/certs/db-ca.pem',
    doc: 'CA bundle (PEM) used to verify the store with PGA_DB_SSL=verify-full.',
  },
  REDIS_URL: {
    parser: optional(url(['redis:', 'rediss:'])),
    default: undefined,
    example: 'rediss://:secret@redis:6380/0',
    doc: 'Redis state store (standalone, or first seed with PGA_REDIS_MODE=cluster). Unset: in-process memory (single replica only).',
  },
  PGA_REDIS_MODE: {
    parser: oneOf(['standalone', 'sentinel', 'cluster'], 'one of standalone, sentinel, cluster'),
    default: 'standalone',
    example: 'sentinel',
    doc: 'How REDIS_URL is used: one server, a Sentinel-managed master, or a Cluster.',
  },
  PGA_REDIS_SENTINELS: {
    parser: optional(hostPortList),
    default: undefined,
    example: 'sentinel-0:26379,sentinel-1:26379',
    doc: 'Sentinel addresses (PGA_REDIS_MODE=sentinel). Credentials and TLS come from REDIS_URL.',
  },
  PGA_REDIS_SENTINEL_MASTER: {
    parser: text,
    default: 'mymaster',
    example: 'pga',
    doc: 'Name of the master monitored by the Sentinels.',
  },
  PGA_REDIS_CLUSTER_NODES: {
    parser: optional(hostPortList),
    default: undefined,
    example: 'redis-0:6379,redis-1:6379',
    doc: 'Extra Cluster seed nodes (PGA_REDIS_MODE=cluster).',
  },
  PGA_REDIS_TLS_CA_FILE: {
    parser: optional(text),
    default: undefined,
    example: '/etc/ssl/certs/redis-ca.pem',
    doc: 'CA bundle (PEM) to verify a rediss:// server.',
  },
  PGA_REDIS_KEY_PREFIX: {
    parser: matching(/^[A-Za-z0-9:_-]{1,32}$/, 'up to 32 letters, digits, ":", "_" or "-"'),
    default: 'pga:',
    example: 'pga-prod:',
    doc: 'Prefix of every key the service writes to Redis.',
  },
  UPSTASH_REDIS_REST_URL: {
    parser: optional(url(['http:', 'https:'])),
    default: undefined,
    example: 'https://eu1-x.upstash.io',
    doc: 'Upstash REST endpoint (edge runtimes). Used when REDIS_URL is unset.',
  },
  UPSTASH_REDIS_REST_TOKEN: {
    parser: optional(text),
    default: undefined,
    example: 'AXXXbase64token',
    doc: 'Bearer token for UPSTASH_REDIS_REST_URL.',
  },
  PGA_MASTER_KEY: {
    parser: optional(masterKey),
    default: undefined,
    example: 'q2V4cGxhaW5lZC1leGFtcGxlLWtleS0zMi1ieXRlcyE=',
    doc: 'Master key (KEK) for encryption at rest: base64 of 32 random bytes (`openssl rand -base64 32`). Required with DATABASE_URL unless PGA_MASTER_KEY_FILE is set; embedded mode generates PGA_DATA_DIR/master.key.',
  },
  PGA_MASTER_KEY_FILE: {
    parser: optional(text),
    default: undefined,
    example: '/run/secrets/pga-master-key',
    doc: 'File holding the master key (base64): mode 0600, or 0640/0440 when owned by root (a Kubernetes Secret volume with an fsGroup); never readable by others. Alternative to PGA_MASTER_KEY.',
  },
  PGA_MASTER_KEY_PREVIOUS: {
    parser: optional(masterKey),
    default: undefined,
    example: 'b2xkLWtleS1vbmx5LWR1cmluZy1rZWstcm90YXRpb24=',
    doc: 'The old master key, only while rotating it (`pganalytics keys rotate-master-key`).',
  },
  PGA_MASTER_KEY_PREVIOUS_FILE: {
    parser: optional(text),
    default: undefined,
    example: '/run/secrets/pga-master-key-old',
    doc: 'File holding the old master key, alternative to PGA_MASTER_KEY_PREVIOUS.',
  },
  PGA_DEK_ROTATE_AFTER: {
    parser: integer(1024, 3_000_000_000),
    default: '1073741824',
    example: '500000000',
    doc: 'Encryptions after which the active data key is rotated automatically (2^30 by default, far below the 2^32 GCM limit).',
  },
  PGA_COLLECTOR_ENABLED: {
    parser: boolean,
    default: 'true',
    example: 'false',
    doc: 'Run the collector in this replica (replicas share the instances through leases).',
  },
  PGA_COLLECTOR_CONCURRENCY: {
    parser: integer(1, 1000),
    default: '32',
    example: '64',
    doc: 'Instances collected at the same time by one replica.',
  },
  PGA_COLLECTOR_LEASE: {
    parser: duration,
    default: '15s',
    example: '30s',
    doc: 'Lease on each instance; a dead replica’s instances move to the others within this time.',
  },
  PGA_COLLECTOR_CONNECT_TIMEOUT: {
    parser: duration,
    default: '5s',
    example: '10s',
    doc: 'Deadline of connecting to a monitored instance: TCP connect, TLS, start-up and the capability probe together, after which the socket is destroyed (the connection test of the instances API, the collector); backups use it as their connect timeout.',
  },
  PGA_COLLECTOR_STATEMENT_TIMEOUT: {
    parser: duration,
    default: '5s',
    example: '15s',
    doc: 'statement_timeout of every collection query (the client gives up shortly after too).',
  },
  PGA_COLLECTOR_LOCK_TIMEOUT: {
    parser: duration,
    default: '1s',
    example: '500ms',
    doc: 'lock_timeout of every collection query.',
  },
  PGA_COLLECTOR_DATABASE_CONNECTIONS: {
    parser: integer(0, 1000),
    default: '16',
    example: '0',
    doc: 'Connections to other databases of an instance kept open between rounds of the per-database groups (the first N databases; the rest connect each round). Each closes after twice the slowest per-database interval unused. 0: connect each round.',
  },
  PGA_COLLECTOR_BACKOFF_MAX: {
    parser: duration,
    default: '5m',
    example: '15m',
    doc: 'Longest wait between attempts on an unreachable instance (exponential back-off from 1 s).',
  },
  PGA_COLLECTOR_SESSION_SAMPLE_SECONDS: {
    parser: integer(0, 5),
    default: '0',
    example: '2',
    doc: 'Session sampling (the session_samples group): seconds between two samples of pg_stat_activity on a connection kept per instance, summed per snapshot (1-5; 0: off). Where pg_wait_sampling is loaded and installed its profile is read instead, once per snapshot.',
  },
  PGA_RETENTION_DAYS: {
    parser: optional(integer(1, 3650)),
    default: undefined,
    example: '14',
    doc: 'Days of snapshot history kept for every group; unset keeps each group’s default (docs/METRICS.md).',
  },
  PGA_RETENTION_DAYS_BY_GROUP: {
    parser: groupDays,
    default: '',
    example: 'statements=7,activity=3',
    doc: 'Per-group retention in days, overriding PGA_RETENTION_DAYS.',
  },
  PGA_SELF_MONITOR: {
    parser: oneOf(['auto', 'true', 'false'], 'auto, true or false'),
    default: 'auto',
    example: 'true',
    doc: 'Register the service’s own store as a monitored instance (auto: only with the embedded store).',
  },
  PGA_AUDIT_CHECKPOINT_DIR: {
    parser: optional(text),
    default: undefined,
    example: '/var/lib/pganalytics-audit',
    doc: 'Directory the signed audit checkpoints are exported to, outside the database, so a rollback of the database is detected. Embedded default: PGA_DATA_DIR/audit-checkpoints; unset with DATABASE_URL: not exported (warned at start). Put it on storage the database administrators cannot rewrite.',
  },
  PGA_AUDIT_ARCHIVE_URL: {
    parser: optional(archiveUrl),
    default: undefined,
    example: 's3://pga-audit/archive',
    doc: 'Object storage that sealed audit entries are archived to, as compressed signed bundles, once older than the retention policy allows (s3://bucket/prefix with the PGA_S3_* settings, or a directory). Embedded default: PGA_DATA_DIR/audit-archive; unset with DATABASE_URL: entries stay in the database.',
  },
  PGA_AUDIT_ARCHIVE_INTERVAL: {
    parser: duration,
    default: '1h',
    example: '15m',
    doc: 'How often the sealing replica archives due audit entries and expires old bundles.',
  },
  PGA_AUDIT_ARCHIVE_BUNDLE_ENTRIES: {
    parser: integer(1000, 1_000_000),
    default: '50000',
    example: '100000',
    doc: 'Most audit entries in one archive bundle (each bundle ends at a signed checkpoint).',
  },
  PGA_S3_ENDPOINT: {
    parser: optional(url(['http:', 'https:'])),
    default: undefined,
    example: 'https://s3.eu-central-1.amazonaws.com',
    doc: 'Endpoint of an S3-compatible server; unset: AWS S3 for PGA_S3_REGION.',
  },
  PGA_S3_REGION: {
    parser: text,
    default: 'us-east-1',
    example: 'eu-central-1',
    doc: 'S3 region.',
  },
  PGA_S3_ACCESS_KEY_ID: {
    parser: optional(text),
    default: undefined,
    example: 'AKIAIOSFODNN7EXAMPLE',
    doc: 'S3 access key id; unset: the AWS default credential chain (environment, profile, instance or pod role).',
  },
  PGA_S3_SECRET_ACCESS_KEY: {
    parser: optional(text),
    default: undefined,
    example: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    doc: 'S3 secret access key, with PGA_S3_ACCESS_KEY_ID.',
  },
  PGA_S3_FORCE_PATH_STYLE: {
    parser: boolean,
    default: 'false',
    example: 'true',
    doc: 'Path-style S3 addressing (most S3-compatible servers need it).',
  },
  PGA_ADMIN_EMAIL: {
    parser: optional(email),
    default: undefined,
    example: 'dba@example.com',
    doc: 'First start only: create this administrator (with PGA_ADMIN_PASSWORD) instead of printing a one-time setup token.',
  },
  PGA_ADMIN_PASSWORD: {
    parser: optional(text),
    default: undefined,
    example: 'a long passphrase nobody else uses',
    doc: 'First start only: the first administrator’s password (the password rules apply). Remove it once the account exists.',
  },
  PGA_PASSWORD_MIN_LENGTH: {
    parser: integer(8, 64),
    default: '12',
    example: '15',
    doc: 'Shortest password accepted (ASVS 5.0: at least 8; no composition rules; common passwords are refused).',
  },
  PGA_ARGON2_MEMORY_KIB: {
    parser: integer(19456, 4_194_304),
    default: '19456',
    example: '65536',
    doc: 'argon2id memory per password hash in KiB (at least the OWASP minimum, 19 MiB); stored hashes are upgraded at sign-in.',
  },
  PGA_ARGON2_ITERATIONS: {
    parser: integer(2, 20),
    default: '2',
    example: '3',
    doc: 'argon2id passes per password hash (at least 2).',
  },
  PGA_ACCESS_TOKEN_TTL: {
    parser: duration,
    default: '15m',
    example: '5m',
    doc: 'Lifetime of an access token (JWT); also the revocation window of one signed-out session if Redis loses data.',
  },
  PGA_SESSION_IDLE_TIMEOUT: {
    parser: duration,
    default: '30m',
    example: '15m',
    doc: 'A session without requests for this long ends.',
  },
  PGA_SESSION_ABSOLUTE_TIMEOUT: {
    parser: duration,
    default: '12h',
    example: '8h',
    doc: 'A session ends this long after sign-in, however active.',
  },
  PGA_TOKEN_ISSUER: {
    parser: text,
    default: 'pganalytics',
    example: 'https://pganalytics.example.com',
    doc: 'iss of access tokens (checked on every request).',
  },
  PGA_TOKEN_AUDIENCE: {
    parser: text,
    default: 'pganalytics-api',
    example: 'pganalytics-api',
    doc: 'aud of access tokens (checked on every request).',
  },
  PGA_AUTH_USER_CACHE: {
    parser: duration,
    default: '5s',
    example: '2s',
    doc: 'How long a replica trusts its copy of a user’s role, status and token version: the revocation window of a disable or sign-out-everywhere if Redis loses data.',
  },
  PGA_AUTH_RATE_PER_ADDRESS: {
    parser: integer(1, 100_000),
    default: '30',
    example: '60',
    doc: 'Requests per minute one client address may make to each of login, refresh, setup and MFA (then 429 with Retry-After).',
  },
  PGA_AUTH_FAILURES_PER_HOUR: {
    parser: integer(10, 10_000),
    default: '100',
    example: '50',
    doc: 'Failed sign-ins per account and hour before it refuses attempts until the hour ends (a growing delay applies from the 5th).',
  },
  PGA_ADMIN_TOKEN: {
    parser: optional(minLength(32, 'a token of at least 32 characters')),
    default: undefined,
    example: 'f3c1e0b4a9d2c7e6b5a4f3e2d1c0b9a8',
    doc: 'Break-glass bearer token with the admin role, for automation (API keys come later). Compared in constant time; unset: only signed-in users reach the API.',
  },
})

/**
 * Every variable the service reads: its parser, its default (as text, exactly as it would be
 * written in the environment), an example and what it does. docs/CONFIGURATION.md mirrors this
 * table; test/unit/config-doc.test.ts keeps the two in step.
 * A domain with settings of its own keeps them in `src/<domain>/config.ts`: it exports its
 * variables (`defineVariables`) and a function from their parsed values to its section of
 * `Config`; both are composed here.
 */
export const configVariables = { ...coreVariables, ...instanceVariables, ...backupVariables, ...ssoVariables }

const variables = variableTable(configVariables)

/** The variables' values, or a ConfigError naming every bad one. */
function parseVariables(env: Record<string, string | undefined>) {
  const outcome = variables.parse(env)
  if (outcome.issues) throw new ConfigError(outcome.issues)
  return outcome.values
}

/** Typed, frozen configuration: what the rest of the service is given. */
export type Config = Readonly<{
  http: {
    host: string
    port: number
    bodyLimit: number
    corsOrigins: string[]
    shutdownGraceMs: number
    shutdownDelayMs: number
    /** Normalised CIDR blocks ("10.0.0.0/8", "::1/128") of the proxies allowed to name the client. */
    trustedProxies: string[]
  }
  idempotency: { ttlMs: number; waitMs: number }
  log: { level: 'debug' | 'info' | 'warn' | 'error' }
  metrics: { enabled: boolean }
  store:
    | { kind: 'embedded'; dataDir: string; statementTimeoutMs: number }
    | {
        kind: 'postgres'
        url: string
        poolSize: number
        statementTimeoutMs: number
        connectTimeoutMs: number
        ssl: 'disable' | 'prefer' | 'require' | 'verify-full'
        sslCaFile?: string
      }
  state:
    | { kind: 'memory' }
    | {
        kind: 'redis'
        url: string
        mode: 'standalone' | 'sentinel' | 'cluster'
        sentinels: { host: string; port: number }[]
        sentinelMaster: string
        clusterNodes: { host: string; port: number }[]
        tlsCaFile?: string
        keyPrefix: string
      }
    | { kind: 'upstash'; url: string; token: string; keyPrefix: string }
  keys: {
    masterKey?: string
    masterKeyFile?: string
    previousMasterKey?: string
    previousMasterKeyFile?: string
    rotateAfterEncryptions: number
  }
  admin: { token?: string }
  auth: {
    firstAdmin: { email?: string; password?: string }
    passwordMinLength: number
    argon2: { memoryKib: number; iterations: number; parallelism: number }
    issuer: string
    audience: string
    accessTokenTtlMs: number
    idleTimeoutMs: number
    absoluteTimeoutMs: number
    userCacheMs: number
    rateLimits: { perAddressPerMinute: number; failuresPerHour: number }
  }
  audit: {
    checkpointDir?: string
    /** Where archive bundles go; unset: no archiving. */
    archive?: BlobStoreConfig
    archiveIntervalMs: number
    bundleEntries: number
  }
  collector: {
    enabled: boolean
    concurrency: number
    leaseMs: number
    connectTimeoutMs: number
    statementTimeoutMs: number
    lockTimeoutMs: number
    backoffMaxMs: number
    /** Per-database connections kept between rounds, per instance. */
    keptDatabaseConnections: number
    /** Seconds between session samples (0: session sampling off). */
    sessionSampleSeconds: number
    /** Days of history per group, where configured (the catalog default applies otherwise). */
    retentionDays: Record<string, number>
    selfMonitor: boolean
  }
  /** Which hosts instances may be on (src/instances/config.ts). */
  instances: InstancesConfig
  backup: BackupConfig
  /** Enterprise sign-in (src/auth/sso/config.ts). */
  sso: SsoConfig
}>

/** PGA_* names that the service does not know: usually typos, which would silently do nothing. */
export function unknownVariables(env: Record<string, string | undefined>): string[] {
  return Object.keys(env)
    .filter((name) => name.startsWith('PGA_') && !(name in configVariables))
    .sort()
}

/** Parses the environment once, into the frozen configuration the service is given. Empty strings
 * count as unset so `VAR=` falls back to the default. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  return deepFreeze(parseConfig(env))
}

/** The same configuration, not frozen: for a caller that only reads it once (the configuration
 * check redacts it into a new object; freezing ~80 objects per request was a third of its cost). */
export function parseConfig(env: Record<string, string | undefined>): Config {
  const e = parseVariables(env)
  const problems: ConfigIssue[] = []
  if (e.PGA_REDIS_MODE === 'sentinel' && !e.PGA_REDIS_SENTINELS) {
    problems.push({
      variable: 'PGA_REDIS_SENTINELS',
      expected: 'a comma-separated list of host:port when PGA_REDIS_MODE=sentinel',
    })
  }
  if (e.PGA_REDIS_MODE !== 'standalone' && !e.REDIS_URL) {
    problems.push({
      variable: 'REDIS_URL',
      expected: `a redis:// or rediss:// URL when PGA_REDIS_MODE=${e.PGA_REDIS_MODE}`,
    })
  }
  if (e.UPSTASH_REDIS_REST_URL && !e.UPSTASH_REDIS_REST_TOKEN) {
    problems.push({
      variable: 'UPSTASH_REDIS_REST_TOKEN',
      expected: 'a token when UPSTASH_REDIS_REST_URL is set',
    })
  }
  if (
    e.PGA_SESSION_IDLE_TIMEOUT > e.PGA_SESSION_ABSOLUTE_TIMEOUT ||
    e.PGA_ACCESS_TOKEN_TTL > e.PGA_SESSION_ABSOLUTE_TIMEOUT
  ) {
    problems.push({
      variable: 'PGA_SESSION_ABSOLUTE_TIMEOUT',
      expected: 'at least PGA_SESSION_IDLE_TIMEOUT and PGA_ACCESS_TOKEN_TTL',
    })
  }
  if (e.PGA_MASTER_KEY && e.PGA_MASTER_KEY_FILE) {
    problems.push({
      variable: 'PGA_MASTER_KEY_FILE',
      expected: 'to be unset when PGA_MASTER_KEY is set (one source only)',
    })
  }
  if (e.PGA_MASTER_KEY_PREVIOUS && e.PGA_MASTER_KEY_PREVIOUS_FILE) {
    problems.push({
      variable: 'PGA_MASTER_KEY_PREVIOUS_FILE',
      expected: 'to be unset when PGA_MASTER_KEY_PREVIOUS is set (one source only)',
    })
  }
  if (e.DATABASE_URL && !e.PGA_MASTER_KEY && !e.PGA_MASTER_KEY_FILE) {
    problems.push({
      variable: 'PGA_MASTER_KEY',
      expected:
        'a master key (or PGA_MASTER_KEY_FILE) when DATABASE_URL is set: encryption at rest needs a key kept apart from the database',
    })
  }
  if (problems.length > 0) throw new ConfigError(problems)

  const s3: S3Settings = {
    region: e.PGA_S3_REGION,
    forcePathStyle: e.PGA_S3_FORCE_PATH_STYLE,
    ...(e.PGA_S3_ENDPOINT ? { endpoint: e.PGA_S3_ENDPOINT } : {}),
    ...(e.PGA_S3_ACCESS_KEY_ID ? { accessKeyId: e.PGA_S3_ACCESS_KEY_ID } : {}),
    ...(e.PGA_S3_SECRET_ACCESS_KEY ? { secretAccessKey: e.PGA_S3_SECRET_ACCESS_KEY } : {}),
  }
  const config: Config = {
    http: {
      host: e.PGA_HOST,
      port: e.PGA_PORT,
      bodyLimit: e.PGA_BODY_LIMIT,
      corsOrigins: e.PGA_CORS_ORIGINS,
      shutdownGraceMs: e.PGA_SHUTDOWN_GRACE,
      shutdownDelayMs: e.PGA_SHUTDOWN_DELAY,
      trustedProxies: e.PGA_TRUSTED_PROXIES,
    },
    idempotency: { ttlMs: e.PGA_IDEMPOTENCY_TTL, waitMs: e.PGA_IDEMPOTENCY_WAIT },
    log: { level: e.PGA_LOG_LEVEL },
    metrics: { enabled: e.PGA_METRICS_ENABLED },
    store: e.DATABASE_URL
      ? {
          kind: 'postgres',
          url: e.DATABASE_URL,
          poolSize: e.PGA_DB_POOL_SIZE,
          statementTimeoutMs: e.PGA_DB_STATEMENT_TIMEOUT,
          connectTimeoutMs: e.PGA_DB_CONNECT_TIMEOUT,
          ssl: e.PGA_DB_SSL,
          ...(e.PGA_DB_SSL_CA_FILE ? { sslCaFile: e.PGA_DB_SSL_CA_FILE } : {}),
        }
      : { kind: 'embedded', dataDir: e.PGA_DATA_DIR, statementTimeoutMs: e.PGA_DB_STATEMENT_TIMEOUT },
    state: e.REDIS_URL
      ? {
          kind: 'redis',
          url: e.REDIS_URL,
          mode: e.PGA_REDIS_MODE,
          sentinels: e.PGA_REDIS_SENTINELS ?? [],
          sentinelMaster: e.PGA_REDIS_SENTINEL_MASTER,
          clusterNodes: e.PGA_REDIS_CLUSTER_NODES ?? [],
          ...(e.PGA_REDIS_TLS_CA_FILE ? { tlsCaFile: e.PGA_REDIS_TLS_CA_FILE } : {}),
          keyPrefix: e.PGA_REDIS_KEY_PREFIX,
        }
      : e.UPSTASH_REDIS_REST_URL
        ? {
            kind: 'upstash',
            url: e.UPSTASH_REDIS_REST_URL,
            token: e.UPSTASH_REDIS_REST_TOKEN as string,
            keyPrefix: e.PGA_REDIS_KEY_PREFIX,
          }
        : { kind: 'memory' },
    keys: {
      ...(e.PGA_MASTER_KEY ? { masterKey: e.PGA_MASTER_KEY.trim() } : {}),
      ...(e.PGA_MASTER_KEY_FILE ? { masterKeyFile: e.PGA_MASTER_KEY_FILE } : {}),
      ...(e.PGA_MASTER_KEY_PREVIOUS ? { previousMasterKey: e.PGA_MASTER_KEY_PREVIOUS.trim() } : {}),
      ...(e.PGA_MASTER_KEY_PREVIOUS_FILE ? { previousMasterKeyFile: e.PGA_MASTER_KEY_PREVIOUS_FILE } : {}),
      rotateAfterEncryptions: e.PGA_DEK_ROTATE_AFTER,
    },
    admin: e.PGA_ADMIN_TOKEN ? { token: e.PGA_ADMIN_TOKEN } : {},
    auth: {
      firstAdmin: {
        ...(e.PGA_ADMIN_EMAIL ? { email: e.PGA_ADMIN_EMAIL } : {}),
        ...(e.PGA_ADMIN_PASSWORD ? { password: e.PGA_ADMIN_PASSWORD } : {}),
      },
      passwordMinLength: e.PGA_PASSWORD_MIN_LENGTH,
      argon2: { memoryKib: e.PGA_ARGON2_MEMORY_KIB, iterations: e.PGA_ARGON2_ITERATIONS, parallelism: 1 },
      issuer: e.PGA_TOKEN_ISSUER,
      audience: e.PGA_TOKEN_AUDIENCE,
      accessTokenTtlMs: e.PGA_ACCESS_TOKEN_TTL,
      idleTimeoutMs: e.PGA_SESSION_IDLE_TIMEOUT,
      absoluteTimeoutMs: e.PGA_SESSION_ABSOLUTE_TIMEOUT,
      userCacheMs: e.PGA_AUTH_USER_CACHE,
      rateLimits: {
        perAddressPerMinute: e.PGA_AUTH_RATE_PER_ADDRESS,
        failuresPerHour: e.PGA_AUTH_FAILURES_PER_HOUR,
      },
    },
    audit: {
      ...(e.PGA_AUDIT_CHECKPOINT_DIR
        ? { checkpointDir: e.PGA_AUDIT_CHECKPOINT_DIR }
        : e.DATABASE_URL
          ? {}
          : { checkpointDir: `${e.PGA_DATA_DIR}/audit-checkpoints` }),
      ...(e.PGA_AUDIT_ARCHIVE_URL || !e.DATABASE_URL
        ? {
            archive: parseBlobUrl(e.PGA_AUDIT_ARCHIVE_URL ?? `${e.PGA_DATA_DIR}/audit-archive`, s3),
          }
        : {}),
      archiveIntervalMs: e.PGA_AUDIT_ARCHIVE_INTERVAL,
      bundleEntries: e.PGA_AUDIT_ARCHIVE_BUNDLE_ENTRIES,
    },
    collector: {
      enabled: e.PGA_COLLECTOR_ENABLED,
      concurrency: e.PGA_COLLECTOR_CONCURRENCY,
      leaseMs: e.PGA_COLLECTOR_LEASE,
      connectTimeoutMs: e.PGA_COLLECTOR_CONNECT_TIMEOUT,
      statementTimeoutMs: e.PGA_COLLECTOR_STATEMENT_TIMEOUT,
      lockTimeoutMs: e.PGA_COLLECTOR_LOCK_TIMEOUT,
      backoffMaxMs: e.PGA_COLLECTOR_BACKOFF_MAX,
      keptDatabaseConnections: e.PGA_COLLECTOR_DATABASE_CONNECTIONS,
      sessionSampleSeconds: e.PGA_COLLECTOR_SESSION_SAMPLE_SECONDS,
      retentionDays: {
        ...(e.PGA_RETENTION_DAYS
          ? Object.fromEntries(allGroupNames.map((g) => [g, e.PGA_RETENTION_DAYS as number]))
          : {}),
        ...e.PGA_RETENTION_DAYS_BY_GROUP,
      },
      selfMonitor: e.PGA_SELF_MONITOR === 'auto' ? !e.DATABASE_URL : e.PGA_SELF_MONITOR === 'true',
    },
    instances: instancesConfig(e),
    backup: backupConfig(e, { dataDir: e.PGA_DATA_DIR, s3 }),
    sso: ssoConfig(e),
  }
  return config
}

// A frozen value was frozen here, children first (the defaults shared between calls): skip it.
function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner)
    Object.freeze(value)
  }
  return value
}
