// Settings of `pganalytics agent`, read only by that command: each from a flag or, without one,
// its environment variable (PGA_AGENT_*), else its default. The key is never a flag (flags show
// in `ps`): PGA_AGENT_KEY, or a file named by --key-file / PGA_AGENT_KEY_FILE. The service itself
// reads none of these; docs/AGENT.md lists them.
import { readFileSync } from 'node:fs'
import {
  ConfigError,
  type ConfigIssue,
  defineVariables,
  duration,
  Expected,
  integer,
  matching,
  type ParsedVariables,
  refine,
  text,
  url,
} from '../config-kit.ts'

// The UUID form zod's uuid() accepted (versions 1-8, the RFC variant, nil and max).
const uuidPattern =
  /^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-8][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}|00000000-0000-0000-0000-000000000000|ffffffff-ffff-ffff-ffff-ffffffffffff)$/
const agentKeyPattern = /^pgak_[0-9A-Za-z]{32}$/

export const agentVariables = defineVariables({
  PGA_AGENT_URL: {
    parser: url(['http:', 'https:']),
    default: undefined,
    example: 'https://pganalytics.example.com',
    doc: 'Base URL of the pganalytics service (flag --url).',
  },
  PGA_AGENT_INSTANCE_ID: {
    parser: matching(uuidPattern, 'the id of the instance (GET /api/v1/instances)'),
    default: undefined,
    example: '0f8e2a4c-6b1d-4e3f-9a7c-2d5b8e1f4a60',
    doc: 'The monitored instance running on this host; the key must be bound to it (flag --instance).',
  },
  PGA_AGENT_KEY: {
    parser: matching(agentKeyPattern, 'an API key pgak_…'),
    default: undefined,
    example: 'pgak_0123456789ABCDEFGHIJKLMNOPQRSTUV',
    doc: 'The agent API key (role agent). Prefer PGA_AGENT_KEY_FILE.',
  },
  PGA_AGENT_KEY_FILE: {
    parser: text,
    default: undefined,
    example: '/etc/pganalytics/agent.key',
    doc: 'File holding the agent API key (flag --key-file).',
  },
  PGA_AGENT_INTERVAL: {
    parser: refine(duration, (ms) => ms >= 1000 && ms <= 3_600_000, 'between 1s and 1h'),
    default: '15s',
    example: '30s',
    doc: 'Time between two readings of the host (flag --interval).',
  },
  PGA_AGENT_QUEUE_DIR: {
    parser: text,
    default: './pganalytics-agent',
    example: '/var/lib/pganalytics-agent',
    doc: 'Directory of the on-disk queue (batches not yet acknowledged) (flag --queue-dir).',
  },
  PGA_AGENT_QUEUE_MAX_BYTES: {
    parser: integer(65_536, 2 ** 40),
    default: '67108864',
    example: '268435456',
    doc: 'Bound of the queue; the oldest batches are dropped beyond it (flag --queue-max-bytes).',
  },
  PGA_AGENT_TIMEOUT: {
    parser: duration,
    default: '10s',
    example: '5s',
    doc: 'Deadline of one push (flag --timeout).',
  },
  PGA_AGENT_DATA_DIRECTORY: {
    parser: text,
    default: undefined,
    example: '/var/lib/postgresql/16/main',
    doc: 'PostgreSQL data directory whose volume to watch (flag --data-directory).',
  },
  PGA_AGENT_WAL_DIRECTORY: {
    parser: text,
    default: undefined,
    example: '/srv/wal/pg_wal',
    doc: 'WAL directory, when not <data directory>/pg_wal (flag --wal-directory).',
  },
  PGA_AGENT_PROCFS: {
    parser: text,
    default: '/proc',
    example: '/host/proc',
    doc: 'Where the host’s /proc is mounted (in a container) (flag --procfs).',
  },
  PGA_AGENT_SYSFS: {
    parser: text,
    default: '/sys',
    example: '/host/sys',
    doc: 'Where the host’s /sys is mounted (flag --sysfs).',
  },
  PGA_AGENT_ROOTFS: {
    parser: text,
    default: '/',
    example: '/host',
    doc: 'Where the host’s root filesystem is mounted, for statfs of its mounts (flag --rootfs).',
  },
})

/** Flags of `pganalytics agent`, each standing for a variable. */
export const agentFlags = {
  url: 'PGA_AGENT_URL',
  instance: 'PGA_AGENT_INSTANCE_ID',
  'key-file': 'PGA_AGENT_KEY_FILE',
  interval: 'PGA_AGENT_INTERVAL',
  'queue-dir': 'PGA_AGENT_QUEUE_DIR',
  'queue-max-bytes': 'PGA_AGENT_QUEUE_MAX_BYTES',
  timeout: 'PGA_AGENT_TIMEOUT',
  'data-directory': 'PGA_AGENT_DATA_DIRECTORY',
  'wal-directory': 'PGA_AGENT_WAL_DIRECTORY',
  procfs: 'PGA_AGENT_PROCFS',
  sysfs: 'PGA_AGENT_SYSFS',
  rootfs: 'PGA_AGENT_ROOTFS',
} as const satisfies Record<string, keyof typeof agentVariables>

export type AgentConfig = Readonly<{
  url: string
  instanceId: string
  key: string
  intervalMs: number
  queueDir: string
  queueMaxBytes: number
  timeoutMs: number
  dataDirectory?: string
  walDirectory?: string
  procfs: string
  sysfs: string
  rootfs: string
}>

type Parsed = ParsedVariables<typeof agentVariables>

/** Parses flags over the environment; the key comes from PGA_AGENT_KEY or the key file. */
export function loadAgentConfig(
  env: Record<string, string | undefined>,
  flags: Partial<Record<keyof typeof agentFlags, string>>,
): AgentConfig {
  const raw: Record<string, string> = {}
  for (const [name, variable] of Object.entries(agentVariables)) {
    const flag = Object.entries(agentFlags).find(([, v]) => v === name)?.[0] as
      | keyof typeof agentFlags
      | undefined
    const value = (flag ? flags[flag] : undefined) ?? env[name]
    if (value !== undefined && value !== '') raw[name] = value
    else if (variable.default !== undefined) raw[name] = variable.default
  }
  const issues: ConfigIssue[] = []
  const parsed: Record<string, unknown> = {}
  for (const [name, variable] of Object.entries(agentVariables)) {
    if (raw[name] === undefined) continue
    const value = variable.parser.parse(raw[name])
    if (value instanceof Expected)
      issues.push({ variable: name, expected: value.messages[0] ?? 'a valid value' })
    else parsed[name] = value
  }
  const e = parsed as Partial<Parsed>
  if (!e.PGA_AGENT_URL) issues.push({ variable: 'PGA_AGENT_URL', expected: 'the service URL (or --url)' })
  if (!e.PGA_AGENT_INSTANCE_ID)
    issues.push({ variable: 'PGA_AGENT_INSTANCE_ID', expected: 'the instance id (or --instance)' })
  const key =
    e.PGA_AGENT_KEY ?? (e.PGA_AGENT_KEY_FILE ? readKeyFile(e.PGA_AGENT_KEY_FILE, issues) : undefined)
  if (!key && !issues.some((i) => i.variable === 'PGA_AGENT_KEY_FILE'))
    issues.push({
      variable: 'PGA_AGENT_KEY',
      expected: 'an agent API key, or PGA_AGENT_KEY_FILE / --key-file',
    })
  if (issues.length > 0) throw new ConfigError(issues)
  return Object.freeze({
    url: e.PGA_AGENT_URL as string,
    instanceId: e.PGA_AGENT_INSTANCE_ID as string,
    key: key as string,
    intervalMs: e.PGA_AGENT_INTERVAL as number,
    queueDir: e.PGA_AGENT_QUEUE_DIR as string,
    queueMaxBytes: e.PGA_AGENT_QUEUE_MAX_BYTES as number,
    timeoutMs: e.PGA_AGENT_TIMEOUT as number,
    ...(e.PGA_AGENT_DATA_DIRECTORY ? { dataDirectory: e.PGA_AGENT_DATA_DIRECTORY } : {}),
    ...(e.PGA_AGENT_WAL_DIRECTORY ? { walDirectory: e.PGA_AGENT_WAL_DIRECTORY } : {}),
    procfs: e.PGA_AGENT_PROCFS as string,
    sysfs: e.PGA_AGENT_SYSFS as string,
    rootfs: e.PGA_AGENT_ROOTFS as string,
  })
}

function readKeyFile(path: string, issues: ConfigIssue[]): string | undefined {
  try {
    const key = readFileSync(path, 'utf8').trim()
    if (agentKeyPattern.test(key)) return key
    issues.push({ variable: 'PGA_AGENT_KEY_FILE', expected: 'a file holding one API key pgak_…' })
  } catch {
    issues.push({ variable: 'PGA_AGENT_KEY_FILE', expected: 'a readable file holding the API key' })
  }
  return undefined
}
