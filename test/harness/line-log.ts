// The lines a child process writes (its stdout and stderr, or a log file read on demand), each
// with when it was seen, and a wait for the first line that matches. Shared by the service and
// balancer harnesses.
export type LogLine = { line: string; at: number }

export class LineLog {
  readonly entries: LogLine[] = []
  private readonly listeners = new Set<() => void>()

  /** `refresh` appends lines from somewhere that cannot push them (a file); it is called before
   * every read, and every 200 ms while a wait is pending. */
  constructor(private readonly refresh?: () => void) {}

  /** Splits a stream into lines as it arrives. */
  follow(stream: NodeJS.ReadableStream | null | undefined): void {
    let buffer = ''
    stream?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString()
      const parts = buffer.split('\n')
      buffer = parts.pop() ?? ''
      this.add(parts)
    })
  }

  add(lines: string[]): void {
    const at = Date.now()
    this.entries.push(...lines.map((line) => ({ line, at })))
    for (const listener of this.listeners) listener()
  }

  get lines(): string[] {
    this.refresh?.()
    return this.entries.map((e) => e.line)
  }

  /** The first line matching `pattern` seen at or after `after` (epoch ms). */
  waitFor(
    pattern: RegExp,
    options: { after?: number; timeoutMs?: number; what?: string } = {},
  ): Promise<LogLine> {
    const { after = 0, timeoutMs = 15_000, what = 'log' } = options
    return new Promise((resolve, reject) => {
      const find = () => {
        this.refresh?.()
        return this.entries.find((e) => e.at >= after && pattern.test(e.line))
      }
      const done = () => {
        clearTimeout(timer)
        clearInterval(poll)
        this.listeners.delete(check)
      }
      const check = () => {
        const found = find()
        if (found) {
          done()
          resolve(found)
        }
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`${what}: no line matching ${pattern} within ${timeoutMs} ms`))
      }, timeoutMs)
      const poll = this.refresh ? setInterval(check, 200) : undefined
      this.listeners.add(check)
      check()
    })
  }
}
