// A logger that keeps its JSON lines in memory, so tests can read what was logged.
import { createLogger, type Logger } from '../../src/platform/log.ts'

export function captureLogs(level: 'debug' | 'info' = 'debug'): {
  log: Logger
  lines: string[]
  text(): string
} {
  const lines: string[] = []
  return {
    log: createLogger({ level, write: (line) => lines.push(line) }),
    lines,
    text: () => lines.join('\n'),
  }
}
