// The plain parsers of src/config-kit.ts and the service variables built on them: every way a
// value is refused (with its message), what accepted values become, and how a table of variables
// is parsed (defaults, required variables, several issues, their order).
import { describe, expect, it } from 'vitest'
import { configVariables, loadConfig } from '../../src/config.ts'
import {
  ConfigError,
  defineVariables,
  Expected,
  integer,
  oneOf,
  optional,
  refine,
  text,
  variableTable,
} from '../../src/config-kit.ts'
import { testMasterKey } from '../support/master-key.ts'

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env)
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return (error as ConfigError).issues.map((issue) => `${issue.variable}: ${issue.expected}`)
  }
  throw new Error('expected the configuration to be rejected')
}

describe('service variables refuse bad values with the form they expect', () => {
  it.each<[Record<string, string>, string[]]>([
    [{ DATABASE_URL: 'not a url' }, ['DATABASE_URL: a URL starting with postgres:// or postgresql://']],
    [{ PGA_ADMIN_EMAIL: 'dba@localhost' }, ['PGA_ADMIN_EMAIL: Invalid email address']],
    [{ PGA_ADMIN_EMAIL: '.dba@example.com' }, ['PGA_ADMIN_EMAIL: Invalid email address']],
    [{ PGA_AZURE_STORAGE_ENDPOINT: 'azurite:10000' }, []],
    [{ PGA_AZURE_STORAGE_ENDPOINT: 'not a url' }, ['PGA_AZURE_STORAGE_ENDPOINT: Invalid URL']],
    [
      { PGA_RETENTION_DAYS_BY_GROUP: 'statements:7' },
      ['PGA_RETENTION_DAYS_BY_GROUP: a comma-separated list of group=days'],
    ],
    [
      { PGA_RETENTION_DAYS_BY_GROUP: 'statements=7,nonsense=3' },
      [
        expect.stringMatching(
          /^PGA_RETENTION_DAYS_BY_GROUP: known group names \(.*statements.*\) with days$/,
        ),
      ],
    ],
    [
      // `__proto__` is a name like any other: unknown, not a way around the check.
      { PGA_RETENTION_DAYS_BY_GROUP: '__proto__=3' },
      [expect.stringMatching(/^PGA_RETENTION_DAYS_BY_GROUP: known group names/)],
    ],
    [
      { PGA_RETENTION_DAYS_BY_GROUP: 'statements=0' },
      ['PGA_RETENTION_DAYS_BY_GROUP: days between 1 and 3650'],
    ],
    [
      { PGA_RETENTION_DAYS_BY_GROUP: 'nonsense=4000' },
      [
        expect.stringMatching(/^PGA_RETENTION_DAYS_BY_GROUP: known group names/),
        'PGA_RETENTION_DAYS_BY_GROUP: days between 1 and 3650',
      ],
    ],
    [
      { PGA_AUDIT_ARCHIVE_URL: 'ftp://archive/x' },
      ['PGA_AUDIT_ARCHIVE_URL: s3://bucket/prefix, file:///path or a directory'],
    ],
    [
      { PGA_BACKUP_REPOSITORY: 'ftp://backups/x' },
      [
        'PGA_BACKUP_REPOSITORY: file:///path, a directory, s3://bucket/prefix, gs://bucket/prefix or azure://account/container/prefix',
      ],
    ],
    [{ PGA_BACKUP_COMPRESSION: 'brotli' }, ['PGA_BACKUP_COMPRESSION: one of none, gzip, zstd, lz4']],
    [{ PGA_BACKUP_COPY_METHOD: 'rsync' }, ['PGA_BACKUP_COPY_METHOD: one of auto, stream, local']],
    [{ PGA_BACKUP_DRILL_OS_USER: 'Post Gres' }, ['PGA_BACKUP_DRILL_OS_USER: a user name']],
    [{ PGA_SELF_MONITOR: 'maybe' }, ['PGA_SELF_MONITOR: auto, true or false']],
    [{ PGA_PUBLIC_URL: 'ftp://sso' }, ['PGA_PUBLIC_URL: a URL starting with http:// or https://']],
    // Valid base64 of 32 bytes with a character Buffer.from would silently skip.
    [
      { PGA_MASTER_KEY: `${testMasterKey.slice(0, 10)}!${testMasterKey.slice(10)}` },
      ['PGA_MASTER_KEY: base64 of exactly 32 bytes (openssl rand -base64 32)'],
    ],
    [{ PGA_PORT: '-1' }, ['PGA_PORT: an integer between 0 and 65535']],
    [{ PGA_PORT: '1e3' }, ['PGA_PORT: an integer between 0 and 65535']],
    [{ PGA_SHUTDOWN_GRACE: '5d' }, ['PGA_SHUTDOWN_GRACE: a duration such as 500ms, 30s, 5m or 1h']],
    [{ PGA_SHUTDOWN_GRACE: ' 5s' }, ['PGA_SHUTDOWN_GRACE: a duration such as 500ms, 30s, 5m or 1h']],
  ])('%o', (env, expected) => {
    if (expected.length === 0) expect(() => loadConfig(env)).not.toThrow()
    else expect(problemsOf(env)).toEqual(expected)
  })

  it('reports the issues in the order of the table, whatever the order of the environment', () => {
    expect(problemsOf({ PGA_SSO_CLOCK_SKEW: 'x', PGA_BACKUP_CHUNK_SIZE: '1', PGA_PORT: 'x' })).toEqual([
      'PGA_PORT: an integer between 0 and 65535',
      'PGA_BACKUP_CHUNK_SIZE: an integer between 65536 and 67108864',
      'PGA_SSO_CLOCK_SKEW: a duration such as 500ms, 30s, 5m or 1h',
    ])
  })

  it('gives the values the rest of the service reads', () => {
    const config = loadConfig({
      PGA_RETENTION_DAYS: '30',
      PGA_RETENTION_DAYS_BY_GROUP: 'statements=7,activity=3',
      PGA_AZURE_STORAGE_ENDPOINT: ' http://127.0.0.1:10000/dev\tstoreaccount1 ',
      PGA_BACKUP_REPOSITORY: 'azure://devstoreaccount1/backups/prod',
      PGA_BACKUP_COMPRESSION: 'lz4',
      PGA_BACKUP_THREADS: '2',
      PGA_METRICS_ENABLED: '0',
      PGA_COLLECTOR_ENABLED: '1',
      PGA_ADMIN_EMAIL: 'first.dba+pga@db.example.com',
      PGA_SSO_RETURN_PATHS: '/app/, /docs',
    })
    expect(config.collector.retentionDays.statements).toBe(7)
    expect(config.collector.retentionDays.activity).toBe(3)
    expect(config.collector.retentionDays.tables).toBe(30)
    expect(config.backup.repository).toMatchObject({
      kind: 'azure',
      azure: { endpoint: 'http://127.0.0.1:10000/devstoreaccount1' },
    })
    expect(config.backup.compression).toBe('lz4')
    expect(config.backup.threads).toBe(2)
    expect(config.metrics.enabled).toBe(false)
    expect(config.collector.enabled).toBe(true)
    expect(config.auth.firstAdmin.email).toBe('first.dba+pga@db.example.com')
    expect(config.sso.returnPaths).toEqual(['/app/', '/docs'])
  })

  it('parses every default in the table', () => {
    for (const [name, variable] of Object.entries(configVariables))
      if (variable.default !== undefined)
        expect(variable.parser.parse(variable.default), name).not.toBeInstanceOf(Expected)
  })
})

describe('variableTable', () => {
  const table = variableTable(
    defineVariables({
      NAME: { parser: text, default: undefined, example: 'x', doc: 'required' },
      LEVEL: { parser: oneOf(['low', 'high'], 'low or high'), default: 'low', example: 'high', doc: '' },
      COUNT: { parser: optional(integer(1, 9)), default: undefined, example: '3', doc: '' },
      EVEN: {
        parser: refine(integer(0, 100), (n) => n % 2 === 0, 'an even number'),
        default: '4',
        example: '8',
        doc: '',
      },
    }),
  )

  it('names a required variable that is absent, and takes defaults and undefined for the rest', () => {
    expect(table.parse({})).toEqual({ issues: [{ variable: 'NAME', expected: 'a value' }] })
    expect(table.parse({ NAME: '' }).issues).toEqual([{ variable: 'NAME', expected: 'a value' }])
    const { values } = table.parse({ NAME: 'n', UNRELATED: 'x' })
    expect({ ...Object.getPrototypeOf(values), ...values }).toEqual({
      NAME: 'n',
      LEVEL: 'low',
      COUNT: undefined,
      EVEN: 4,
    })
  })

  it('applies a refinement after its parser, each with its own message', () => {
    expect(table.parse({ NAME: 'n', EVEN: '7' }).issues).toEqual([
      { variable: 'EVEN', expected: 'an even number' },
    ])
    expect(table.parse({ NAME: 'n', EVEN: '102' }).issues).toEqual([
      { variable: 'EVEN', expected: 'an integer between 0 and 100' },
    ])
    expect(table.parse({ NAME: 'n', EVEN: '8' }).values?.EVEN).toBe(8)
  })

  it('reports a default its own parser refuses (a mistake in the table), unless the variable is set', () => {
    const broken = variableTable(
      defineVariables({ LEVEL: { parser: oneOf(['low'], 'low'), default: 'high', example: 'low', doc: '' } }),
    )
    expect(broken.parse({}).issues).toEqual([{ variable: 'LEVEL', expected: 'low' }])
    expect(broken.parse({ LEVEL: 'low' }).values?.LEVEL).toBe('low')
  })

  it('keeps results apart: one parse does not change the defaults another sees', () => {
    const first = table.parse({ NAME: 'a', LEVEL: 'high' }).values
    const second = table.parse({ NAME: 'b' }).values
    expect([first?.NAME, first?.LEVEL, second?.NAME, second?.LEVEL]).toEqual(['a', 'high', 'b', 'low'])
  })
})
