// `pganalytics agent`: runs on a database host, reads it every interval and pushes the readings.
// `--once` reads once, sends what is queued and exits: 0 when nothing is left waiting, 1 when
// batches stay queued (server unreachable or the key refused; the reason goes to stderr).
// SIGTERM / SIGINT stop the loop after the current push; the queue keeps what was not sent.
import { createLogger, type LogLevel } from '../platform/log.ts'
import { type AgentConfig, agentFlags, loadAgentConfig } from './config.ts'
import { Agent } from './run.ts'

export type AgentIo = {
  env: Record<string, string | undefined>
  out: (text: string) => void
  err: (text: string) => void
}

export const agentOptions = {
  ...Object.fromEntries(Object.keys(agentFlags).map((flag) => [flag, { type: 'string' as const }])),
  once: { type: 'boolean' as const },
}

/** Runs the agent with the parsed flags; returns the exit code. Configuration errors throw. */
export async function runAgentCommand(
  values: Record<string, string | boolean | string[] | undefined>,
  io: AgentIo,
  fetchImpl: typeof fetch = fetch,
): Promise<number> {
  const flags = Object.fromEntries(
    Object.keys(agentFlags)
      .filter((flag) => typeof values[flag] === 'string')
      .map((flag) => [flag, values[flag] as string]),
  )
  const config: AgentConfig = loadAgentConfig(io.env, flags)
  const level =
    (['debug', 'info', 'warn', 'error'] as const).find((l) => l === io.env.PGA_LOG_LEVEL) ?? 'info'
  const log = createLogger({
    level: level as LogLevel,
    write: (line) => io.out(`${line}\n`),
    base: { component: 'agent' },
  })
  const agent = new Agent(config, log, fetchImpl)
  try {
    if (values.once) {
      await agent.sample()
      const summary = await agent.flush()
      if (summary.waiting === 0) return 0
      io.err(
        `pganalytics agent: ${summary.waiting} batch(es) still queued: ${summary.problem ?? 'not sent'}\n`,
      )
      return 1
    }
    const stop = new AbortController()
    const onSignal = () => stop.abort()
    process.once('SIGTERM', onSignal)
    process.once('SIGINT', onSignal)
    try {
      await agent.run(stop.signal)
    } finally {
      process.off('SIGTERM', onSignal)
      process.off('SIGINT', onSignal)
    }
    return 0
  } finally {
    agent.close()
  }
}
