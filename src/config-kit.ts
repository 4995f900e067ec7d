// The pieces every configuration section is made of: plain parsers of environment values
// (durations, integers, booleans, URLs, lists), the shape of a variable's entry, and the parse of
// a whole table of variables. src/config.ts composes the sections (its own and each domain's
// `config.ts`) into one table, parsed once. No schema library: building ~100 zod schemas was most
// of the configuration's start-up cost; a parser here is one small object, its patterns shared.
import { parseCidr } from './http/client-address.ts'

/** What a rejected value should have been (usually one message). Never the value: it may be a
 * secret. */
export class Expected {
  readonly messages: string[]
  constructor(...messages: string[]) {
    this.messages = messages
  }
}

/** Turns a variable's text (present and not empty) into its value, or says what was expected. */
export type ValueParser<T> = {
  parse(text: string): T | Expected
  /** Absent without a default: undefined instead of an issue. */
  readonly optional?: boolean
}

/** One environment variable: its parser, its default (as text, exactly as it would be written in
 * the environment), an example, and what it does. docs/CONFIGURATION.md mirrors these. */
export type ConfigVariable = {
  parser: ValueParser<unknown>
  default: string | undefined
  example: string
  doc: string
}

/** A section's variables, checked for shape and kept literal for typing. */
export const defineVariables = <T extends Record<string, ConfigVariable>>(variables: T): T => variables

/** The value a parser gives: its return type without the rejection, plus undefined if optional. */
type ValueOf<P extends ValueParser<unknown>> =
  | Exclude<ReturnType<P['parse']>, Expected>
  | (P extends { optional: true } ? undefined : never)

/** The parsed values of a section's variables. */
export type ParsedVariables<T extends Record<string, ConfigVariable>> = {
  [K in keyof T]: ValueOf<T[K]['parser']>
}

export type ConfigIssue = { variable: string; expected: string }

/** Raised when the environment is invalid: one line per bad variable, naming the expected form. */
export class ConfigError extends Error {
  constructor(readonly issues: ConfigIssue[]) {
    super(
      `invalid configuration:\n${issues.map((i) => `  ${i.variable}: expected ${i.expected}`).join('\n')}`,
    )
    this.name = 'ConfigError'
  }
}

const parser = <T>(parse: (text: string) => T | Expected): ValueParser<T> => ({ parse })

/** The same parser, undefined when the variable is absent and has no default. */
export const optional = <T>(inner: ValueParser<T>): { parse: ValueParser<T>['parse']; optional: true } => ({
  parse: inner.parse,
  optional: true,
})

/** The parser's value, when it also passes `check` (else `message`). */
export const refine = <T>(inner: ValueParser<T>, check: (value: T) => boolean, message: string) =>
  parser((text): T | Expected => {
    const value = inner.parse(text)
    return value instanceof Expected || check(value) ? value : new Expected(message)
  })

/** Any text (a present value is never empty). */
export const text: ValueParser<string> = parser((value) => value)

/** Text matching `pattern` (which must be anchored). */
export const matching = (pattern: RegExp, message: string) =>
  parser((value) => (pattern.test(value) ? value : new Expected(message)))

/** Text of at least `length` characters. */
export const minLength = (length: number, message: string) =>
  parser((value) => (value.length >= length ? value : new Expected(message)))

/** One of `values`, typed as their union. */
export const oneOf = <const V extends readonly string[]>(values: V, message: string) =>
  parser((value): V[number] | Expected => (values.includes(value) ? value : new Expected(message)))

const durationPattern = /^(\d+)(ms|s|m|h)?$/
const unitMs: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/** Parses "250ms", "30s", "5m", "1h" or a bare number of milliseconds into milliseconds. */
export const duration: ValueParser<number> = parser((value) => {
  const match = durationPattern.exec(value)
  if (!match) return new Expected('a duration such as 500ms, 30s, 5m or 1h')
  return Number(match[1]) * (unitMs[match[2] ?? 'ms'] as number)
})

const digits = /^\d+$/

/** A whole number from `min` to `max` (at most 2^53), written in digits. */
export const integer = (min: number, max: number) =>
  parser((value) => {
    const number = Number(value)
    return digits.test(value) && number >= min && number <= max
      ? number
      : new Expected(`an integer between ${min} and ${max}`)
  })

export const boolean: ValueParser<boolean> = parser((value) =>
  value === 'true' || value === '1'
    ? true
    : value === 'false' || value === '0'
      ? false
      : new Expected('true or false'),
)

/** A URL whose protocol is one of `protocols` ("https:"), kept as written. */
export const url = (protocols: string[]) =>
  parser((value) => {
    let protocol: string | undefined
    try {
      protocol = new URL(value).protocol
    } catch {}
    return protocol !== undefined && protocols.includes(protocol)
      ? value
      : new Expected(`a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`)
  })

const tabsAndNewlines = /[\t\n\r]/g

/** Any URL the URL parser accepts, trimmed, tabs and newlines removed (what the parser ignores). */
export const anyUrl: ValueParser<string> = parser((value) => {
  const trimmed = value.trim()
  return URL.canParse(trimmed) ? trimmed.replace(tabsAndNewlines, '') : new Expected('Invalid URL')
})

// The address form zod's email() accepted, so values valid before stay valid.
const emailPattern =
  /^(?:[A-Za-z0-9_'+-]+\.)*[A-Za-z0-9_'+-]*[A-Za-z0-9_+-]@(?:[A-Za-z0-9][A-Za-z0-9-]*\.)+[A-Za-z]{2,}$/

export const email: ValueParser<string> = matching(emailPattern, 'Invalid email address')

const hostPortPattern = /^[^\s,:]+:\d+(,[^\s,:]+:\d+)*$/

export const hostPortList = parser((value) => {
  if (!hostPortPattern.test(value)) return new Expected('a comma-separated list of host:port')
  return value.split(',').map((item) => {
    const [host, port] = item.split(':') as [string, string]
    return { host, port: Number(port) }
  })
})

const base64Pattern = /^[A-Za-z0-9+/]+={0,2}$/

/** Base64 of 32 bytes, kept as written (surrounding blanks are allowed; the user trims). */
export const masterKey: ValueParser<string> = parser((value) => {
  const trimmed = value.trim()
  return base64Pattern.test(trimmed) && Buffer.from(trimmed, 'base64').byteLength === 32
    ? value
    : new Expected('base64 of exactly 32 bytes (openssl rand -base64 32)')
})

/** "a, b,,c" → ["a", "b", "c"]. */
const splitList = (value: string) =>
  value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean)

/** "10.0.0.0/8, 192.168.1.7, fd00::/8": addresses or CIDR blocks, IPv4 or IPv6, normalised. */
export const cidrList = parser((value) => {
  const items = splitList(value)
  const blocks = items.map(parseCidr).filter((block) => block !== null)
  return blocks.length < items.length
    ? new Expected('a comma-separated list of IP addresses or CIDR blocks')
    : blocks
})

export const commaList: ValueParser<string[]> = parser(splitList)

type TableOutcome<T extends Record<string, ConfigVariable>> =
  | { values: ParsedVariables<T>; issues?: undefined }
  | { issues: ConfigIssue[]; values?: undefined }

/**
 * The parse of a whole table of variables, as one object schema over them would: every issue at
 * once, in the table's order. Only the variables present (set and not empty) are parsed; the
 * others take their defaults, parsed on first use and kept as the prototype of every result (most
 * variables are absent, and re-parsing defaults was most of the cost of a parse; POST
 * /api/v1/config/check parses a proposed environment per request). An absent variable without a
 * default is undefined when optional, else an issue.
 */
export function variableTable<T extends Record<string, ConfigVariable>>(variables: T) {
  type Entry = { parser: ValueParser<unknown>; index: number }
  let entries: Map<string, Entry> | undefined
  let absent: { values: Record<string, unknown>; issues: (ConfigIssue & { index: number })[] } | undefined

  const prepare = () => {
    entries = new Map()
    const values: Record<string, unknown> = {}
    const issues: (ConfigIssue & { index: number })[] = []
    let index = 0
    for (const name in variables) {
      const variable = variables[name] as ConfigVariable
      entries.set(name, { parser: variable.parser, index })
      if (variable.default !== undefined) {
        const value = variable.parser.parse(variable.default)
        if (value instanceof Expected)
          for (const expected of value.messages) issues.push({ variable: name, expected, index })
        else values[name] = value
      } else if (variable.parser.optional) values[name] = undefined
      else issues.push({ variable: name, expected: 'a value', index })
      index++
    }
    absent = { values, issues }
    return { entries, absent }
  }

  return {
    parse(env: Record<string, string | undefined>): TableOutcome<T> {
      const table = entries && absent ? { entries, absent } : prepare()
      // The defaults as the prototype: one small object per call instead of a copy of each.
      const parsed: Record<string, unknown> = Object.create(table.absent.values)
      const issues: (ConfigIssue & { index: number })[] = []
      const present = new Set<string>()
      for (const name in env) {
        const text = env[name]
        const entry = table.entries.get(name)
        if (!entry || text === undefined || text === '') continue
        present.add(name)
        const value = entry.parser.parse(text)
        if (value instanceof Expected)
          for (const expected of value.messages) issues.push({ variable: name, expected, index: entry.index })
        else parsed[name] = value
      }
      for (const issue of table.absent.issues) if (!present.has(issue.variable)) issues.push(issue)
      if (issues.length === 0) return { values: parsed as ParsedVariables<T> }
      return {
        issues: issues
          .sort((a, b) => a.index - b.index)
          .map(({ variable, expected }) => ({ variable, expected })),
      }
    },
  }
}
