// Structured JSON logging: one object per line on a sink (stdout by default). Values under keys
// that look like secrets, and credentials inside URLs, are redacted before anything is written.
export type LogLevel = 'debug' | 'info' | 'warn' | 'error'
export type LogFields = Record<string, unknown>

export interface Logger {
  debug(msg: string, fields?: LogFields): void
  info(msg: string, fields?: LogFields): void
  warn(msg: string, fields?: LogFields): void
  error(msg: string, fields?: LogFields): void
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger
  /** Whether a line at this level would be written (skip building costly fields otherwise). */
  enabled(level: LogLevel): boolean
}

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 }
const secretKey =
  /pass(word)?|secret|token|authorization|cookie|api[-_]?key|private|credential|master[-_]?key/i
const urlCredentials = /([a-z][a-z0-9+.-]*:\/\/)([^\s/@:]*):([^\s/@]*)@/gi

/** Whether a key names a secret. Keys repeat (config sections, log fields): the answer is kept,
 * for a bounded number of distinct keys. */
const secretKeys = new Map<string, boolean>()
function isSecretKey(key: string): boolean {
  let secret = secretKeys.get(key)
  if (secret === undefined) {
    secret = secretKey.test(key)
    if (secretKeys.size < 10_000) secretKeys.set(key, secret)
  }
  return secret
}

/** Replaces secret-looking values; leaves the shape of the object intact for readers of the log. */
export function redact(value: unknown, depth = 0): unknown {
  // Only a URL can carry credentials; most strings skip the regular expression.
  if (typeof value === 'string')
    return value.includes('://') ? value.replace(urlCredentials, '$1$2:[redacted]@') : value
  if (!value || typeof value !== 'object' || depth > 6) return value
  if (value instanceof Error) return { name: value.name, message: redact(value.message) }
  if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1))
  const out: Record<string, unknown> = {}
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue
    const inner = (value as Record<string, unknown>)[key]
    out[key] = inner != null && inner !== '' && isSecretKey(key) ? '[redacted]' : redact(inner, depth + 1)
  }
  return out
}

type Sink = { write: (line: string) => void; min: number }

// A class, not closures: a child per request (the request id) is one small object, and its
// methods are shared. Child fields are redacted when a line is written, not when the child is made.
class JsonLogger implements Logger {
  constructor(
    private readonly sink: Sink,
    private readonly base: LogFields,
  ) {}
  private emit(level: LogLevel, msg: string, fields?: LogFields) {
    if (rank[level] < this.sink.min) return
    const entry = {
      time: new Date().toISOString(),
      level,
      msg: redact(msg),
      ...(redact(this.base) as LogFields),
      ...(fields ? (redact(fields) as LogFields) : {}),
    }
    this.sink.write(JSON.stringify(entry, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)))
  }
  debug(msg: string, fields?: LogFields) {
    this.emit('debug', msg, fields)
  }
  info(msg: string, fields?: LogFields) {
    this.emit('info', msg, fields)
  }
  warn(msg: string, fields?: LogFields) {
    this.emit('warn', msg, fields)
  }
  error(msg: string, fields?: LogFields) {
    this.emit('error', msg, fields)
  }
  child(fields: LogFields): Logger {
    return new JsonLogger(this.sink, { ...this.base, ...fields })
  }
  enabled(level: LogLevel) {
    return rank[level] >= this.sink.min
  }
}

/** Creates a JSON-lines logger. `write` receives each finished line (without the newline). */
export function createLogger(options: {
  level: LogLevel
  write?: (line: string) => void
  base?: LogFields
}): Logger {
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`))
  return new JsonLogger({ write, min: rank[options.level] }, options.base ?? {})
}
