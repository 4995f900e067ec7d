// `pganalytics agent` settings (src/agent/config.ts): flags over the environment over defaults,
// the key from the environment or a file, and every way a value is refused.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadAgentConfig } from '../../src/agent/config.ts'
import { ConfigError } from '../../src/config.ts'
import { tempDir } from '../harness/processes.ts'

const key = 'pgak_0123456789ABCDEFGHIJKLMNOPQRSTUV'
const valid = {
  PGA_AGENT_URL: 'https://pga.example.com',
  PGA_AGENT_INSTANCE_ID: '0f8e2a4c-6b1d-4e3f-9a7c-2d5b8e1f4a60',
  PGA_AGENT_KEY: key,
}

function problemsOf(env: Record<string, string>, flags: Record<string, string> = {}): string[] {
  try {
    loadAgentConfig(env, flags)
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return (error as ConfigError).issues.map((issue) => `${issue.variable}: ${issue.expected}`)
  }
  throw new Error('expected the agent settings to be rejected')
}

describe('loadAgentConfig', () => {
  it('takes flags over the environment over the defaults', () => {
    const config = loadAgentConfig(
      { ...valid, PGA_AGENT_INTERVAL: '30s', PGA_AGENT_QUEUE_DIR: '/env/queue' },
      { interval: '1m', 'queue-max-bytes': '65536' },
    )
    expect(config).toMatchObject({
      url: 'https://pga.example.com',
      key,
      intervalMs: 60_000,
      queueDir: '/env/queue',
      queueMaxBytes: 65_536,
      timeoutMs: 10_000,
      procfs: '/proc',
    })
    expect(Object.isFrozen(config)).toBe(true)
  })

  it('reads the key from a file', () => {
    const file = join(tempDir('agent-config'), 'agent.key')
    writeFileSync(file, `${key}\n`)
    const { PGA_AGENT_KEY: _, ...withoutKey } = valid
    expect(loadAgentConfig({ ...withoutKey, PGA_AGENT_KEY_FILE: file }, {}).key).toBe(key)
    writeFileSync(file, 'not a key\n')
    expect(problemsOf({ ...withoutKey }, { 'key-file': file })).toEqual([
      'PGA_AGENT_KEY_FILE: a file holding one API key pgak_…',
    ])
    expect(problemsOf({ ...withoutKey, PGA_AGENT_KEY_FILE: `${file}.missing` })).toEqual([
      'PGA_AGENT_KEY_FILE: a readable file holding the API key',
    ])
  })

  it('names what is missing', () => {
    expect(problemsOf({})).toEqual([
      'PGA_AGENT_URL: the service URL (or --url)',
      'PGA_AGENT_INSTANCE_ID: the instance id (or --instance)',
      'PGA_AGENT_KEY: an agent API key, or PGA_AGENT_KEY_FILE / --key-file',
    ])
  })

  it.each<[Record<string, string>, string]>([
    [
      { PGA_AGENT_INSTANCE_ID: '0f8e2a4c-6b1d-4e3f-9a7c' },
      'PGA_AGENT_INSTANCE_ID: the id of the instance (GET /api/v1/instances)',
    ],
    [
      { PGA_AGENT_INSTANCE_ID: '0f8e2a4c-6b1d-9e3f-9a7c-2d5b8e1f4a60' },
      'PGA_AGENT_INSTANCE_ID: the id of the instance (GET /api/v1/instances)',
    ],
    [{ PGA_AGENT_KEY: 'pgak_short' }, 'PGA_AGENT_KEY: an API key pgak_…'],
    [{ PGA_AGENT_INTERVAL: '500ms' }, 'PGA_AGENT_INTERVAL: between 1s and 1h'],
    [{ PGA_AGENT_INTERVAL: '2h' }, 'PGA_AGENT_INTERVAL: between 1s and 1h'],
    [{ PGA_AGENT_INTERVAL: 'often' }, 'PGA_AGENT_INTERVAL: a duration such as 500ms, 30s, 5m or 1h'],
    [
      { PGA_AGENT_QUEUE_MAX_BYTES: '1024' },
      'PGA_AGENT_QUEUE_MAX_BYTES: an integer between 65536 and 1099511627776',
    ],
    [{ PGA_AGENT_TIMEOUT: '10 s' }, 'PGA_AGENT_TIMEOUT: a duration such as 500ms, 30s, 5m or 1h'],
  ])('refuses %o', (env, expected) => {
    // A refused URL, id or key is also reported as missing after it.
    expect(problemsOf({ ...valid, ...env })[0]).toBe(expected)
  })

  it('refuses a URL that is not http(s), and says the URL is still needed', () => {
    expect(problemsOf({ ...valid }, { url: 'ftp://pga.example.com' })).toEqual([
      'PGA_AGENT_URL: a URL starting with http:// or https://',
      'PGA_AGENT_URL: the service URL (or --url)',
    ])
  })
})
