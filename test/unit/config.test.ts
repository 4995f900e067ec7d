import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig, unknownVariables } from '../../src/config.ts'
import { redact } from '../../src/platform/log.ts'
import { testMasterKey } from '../support/master-key.ts'

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env)
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return (error as ConfigError).message
      .split('\n')
      .slice(1)
      .map((line) => line.trim())
  }
  throw new Error('expected the configuration to be rejected')
}

describe('loadConfig', () => {
  it('gives embedded defaults with an empty environment', () => {
    const config = loadConfig({})
    expect(config.http).toEqual({
      host: '127.0.0.1',
      port: 8080,
      bodyLimit: 1048576,
      corsOrigins: [],
      shutdownGraceMs: 10_000,
      shutdownDelayMs: 0,
      trustedProxies: [],
    })
    expect(config.idempotency).toEqual({ ttlMs: 86_400_000, waitMs: 5_000 })
    expect(config.store).toEqual({ kind: 'embedded', dataDir: './data', statementTimeoutMs: 30_000 })
    expect(config.state).toEqual({ kind: 'memory' })
  })

  it('parses durations, lists and URLs into typed values', () => {
    const config = loadConfig({
      PGA_SHUTDOWN_GRACE: '2m',
      PGA_SHUTDOWN_DELAY: '2s',
      PGA_DB_STATEMENT_TIMEOUT: '250ms',
      PGA_CORS_ORIGINS: 'https://a.example, https://b.example',
      DATABASE_URL: 'postgres://pga:pw@db:5432/pga',
      PGA_MASTER_KEY: testMasterKey,
      REDIS_URL: 'rediss://:pw@redis:6380/2',
      PGA_REDIS_MODE: 'sentinel',
      PGA_REDIS_SENTINELS: 's1:26379,s2:26380',
    })
    expect(config.http.shutdownGraceMs).toBe(120_000)
    expect(config.http.shutdownDelayMs).toBe(2_000)
    expect(
      loadConfig({ PGA_TRUSTED_PROXIES: ' 10.0.0.0/8, 192.0.2.7 ,fd00::/8, ::1' }).http.trustedProxies,
    ).toEqual(['10.0.0.0/8', '192.0.2.7/32', 'fd00::/8', '::1/128'])
    expect(config.http.corsOrigins).toEqual(['https://a.example', 'https://b.example'])
    expect(config.store).toMatchObject({
      kind: 'postgres',
      statementTimeoutMs: 250,
      poolSize: 10,
      ssl: 'prefer',
    })
    expect(config.state).toMatchObject({
      kind: 'redis',
      mode: 'sentinel',
      sentinels: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26380 },
      ],
    })
  })

  it('treats an empty value as unset', () => {
    expect(loadConfig({ PGA_PORT: '', DATABASE_URL: '' }).store.kind).toBe('embedded')
  })

  it('is frozen all the way down', () => {
    const config = loadConfig({})
    expect(Object.isFrozen(config)).toBe(true)
    expect(Object.isFrozen(config.http)).toBe(true)
    expect(() => {
      ;(config.http as { port: number }).port = 1
    }).toThrow()
  })

  it.each<[Record<string, string>, string]>([
    [{ PGA_PORT: '80a' }, 'PGA_PORT: expected an integer between 0 and 65535'],
    [{ PGA_PORT: '70000' }, 'PGA_PORT: expected an integer between 0 and 65535'],
    [{ PGA_SHUTDOWN_GRACE: 'soon' }, 'PGA_SHUTDOWN_GRACE: expected a duration such as 500ms, 30s, 5m or 1h'],
    [
      { PGA_SHUTDOWN_DELAY: '2 seconds' },
      'PGA_SHUTDOWN_DELAY: expected a duration such as 500ms, 30s, 5m or 1h',
    ],
    [{ PGA_LOG_LEVEL: 'verbose' }, 'PGA_LOG_LEVEL: expected one of debug, info, warn, error'],
    [{ PGA_METRICS_ENABLED: 'yes' }, 'PGA_METRICS_ENABLED: expected true or false'],
    [
      { DATABASE_URL: 'mysql://db/x' },
      'DATABASE_URL: expected a URL starting with postgres:// or postgresql://',
    ],
    [{ REDIS_URL: 'http://redis' }, 'REDIS_URL: expected a URL starting with redis:// or rediss://'],
    [{ PGA_DB_SSL: 'on' }, 'PGA_DB_SSL: expected one of disable, prefer, require, verify-full'],
    [{ PGA_DB_POOL_SIZE: '0' }, 'PGA_DB_POOL_SIZE: expected an integer between 1 and 500'],
    [
      { PGA_REDIS_SENTINELS: 'host-without-port' },
      'PGA_REDIS_SENTINELS: expected a comma-separated list of host:port',
    ],
    [
      { PGA_REDIS_KEY_PREFIX: 'has space' },
      'PGA_REDIS_KEY_PREFIX: expected up to 32 letters, digits, ":", "_" or "-"',
    ],
    [
      { REDIS_URL: 'redis://r', PGA_REDIS_MODE: 'sentinel' },
      'PGA_REDIS_SENTINELS: expected a comma-separated list of host:port when PGA_REDIS_MODE=sentinel',
    ],
    [
      { PGA_REDIS_MODE: 'cluster' },
      'REDIS_URL: expected a redis:// or rediss:// URL when PGA_REDIS_MODE=cluster',
    ],
    ...['10.0.0.0/33', 'proxy.internal', '10.0.0.0/8/1', '10.0.0.1,fd00::/129', '10.0.0.0/x'].map(
      (value): [Record<string, string>, string] => [
        { PGA_TRUSTED_PROXIES: value },
        'PGA_TRUSTED_PROXIES: expected a comma-separated list of IP addresses or CIDR blocks',
      ],
    ),
    [
      { UPSTASH_REDIS_REST_URL: 'https://u.example' },
      'UPSTASH_REDIS_REST_TOKEN: expected a token when UPSTASH_REDIS_REST_URL is set',
    ],
  ])('rejects %o naming the variable and the expected form', (env, expected) => {
    expect(problemsOf(env)).toEqual([expected])
  })

  it('requires a master key with an external store, from one source only, well-formed and never echoed', () => {
    expect(problemsOf({ DATABASE_URL: 'postgres://db/x' })).toEqual([
      'PGA_MASTER_KEY: expected a master key (or PGA_MASTER_KEY_FILE) when DATABASE_URL is set: encryption at rest needs a key kept apart from the database',
    ])
    const short = problemsOf({ PGA_MASTER_KEY: 'aHVudGVyMg==' })
    expect(short).toEqual(['PGA_MASTER_KEY: expected base64 of exactly 32 bytes (openssl rand -base64 32)'])
    expect(short.join()).not.toContain('aHVudGVyMg')
    expect(problemsOf({ PGA_MASTER_KEY: testMasterKey, PGA_MASTER_KEY_FILE: '/k' })).toEqual([
      'PGA_MASTER_KEY_FILE: expected to be unset when PGA_MASTER_KEY is set (one source only)',
    ])
    expect(problemsOf({ PGA_ADMIN_TOKEN: 'short' })).toEqual([
      'PGA_ADMIN_TOKEN: expected a token of at least 32 characters',
    ])
  })

  it('keeps secrets out of the redacted configuration', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgres://db/x',
      PGA_MASTER_KEY: testMasterKey,
      PGA_ADMIN_TOKEN: 'a'.repeat(40),
    })
    const text = JSON.stringify(redact(config))
    expect(text).not.toContain(testMasterKey)
    expect(text).not.toContain('a'.repeat(40))
  })

  it('reports every bad variable at once', () => {
    expect(problemsOf({ PGA_PORT: 'x', PGA_LOG_LEVEL: 'loud' })).toHaveLength(2)
  })

  it('never echoes the rejected value (it may be a secret)', () => {
    const message = problemsOf({ DATABASE_URL: 'mysql://user:hunter2@db/x' }).join('\n')
    expect(message).not.toContain('hunter2')
  })

  it('chooses Upstash only when REDIS_URL is unset', () => {
    const upstash = { UPSTASH_REDIS_REST_URL: 'https://u.example', UPSTASH_REDIS_REST_TOKEN: 't' }
    expect(loadConfig(upstash).state.kind).toBe('upstash')
    expect(loadConfig({ ...upstash, REDIS_URL: 'redis://r' }).state.kind).toBe('redis')
  })
})

describe('unknownVariables', () => {
  it('lists PGA_* names the service does not know, ignoring other variables', () => {
    expect(unknownVariables({ PGA_PROT: '1', PGA_PORT: '1', HOME: '/root', PATH: '/bin' })).toEqual([
      'PGA_PROT',
    ])
  })
})
