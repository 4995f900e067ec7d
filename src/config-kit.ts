// The pieces every configuration section is made of: zod schemas for environment values
// (durations, integers, booleans, URLs, lists) and the shape of a variable's entry. src/config.ts
// composes the sections (its own and each domain's `config.ts`) into one schema, parsed once.
import { z } from 'zod'
import { parseCidr } from './http/client-address.ts'

/** One environment variable: its schema, its default (as text, exactly as it would be written in
 * the environment), an example, and what it does. docs/CONFIGURATION.md mirrors these. */
export type ConfigVariable = {
  schema: z.ZodType
  default: string | undefined
  example: string
  doc: string
}

/** A section's variables, checked for shape and kept literal for typing. */
export const defineVariables = <T extends Record<string, ConfigVariable>>(variables: T): T => variables

/** The parsed values of a section's variables. */
export type ParsedVariables<T extends Record<string, ConfigVariable>> = {
  [K in keyof T]: z.output<T[K]['schema']>
}

/** Parses "250ms", "30s", "5m", "1h" or a bare number of milliseconds into milliseconds. */
export const duration = z
  .string()
  .regex(/^\d+(ms|s|m|h)?$/, 'a duration such as 500ms, 30s, 5m or 1h')
  .transform((text) => {
    const match = /^(\d+)(ms|s|m|h)?$/.exec(text) as RegExpExecArray
    const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(match[2] ?? 'ms') as 'ms' | 's' | 'm' | 'h']
    return Number(match[1]) * unit
  })

export const integer = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, `an integer between ${min} and ${max}`)
    .transform(Number)
    .pipe(
      z
        .number()
        .int()
        .min(min, `an integer between ${min} and ${max}`)
        .max(max, `an integer between ${min} and ${max}`),
    )

export const boolean = z
  .enum(['true', 'false', '1', '0'], 'true or false')
  .transform((v) => v === 'true' || v === '1')

export const url = (protocols: string[]) =>
  z.string().refine(
    (value) => {
      try {
        return protocols.includes(new URL(value).protocol)
      } catch {
        return false
      }
    },
    `a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`,
  )

export const hostPortList = z
  .string()
  .regex(/^[^\s,:]+:\d+(,[^\s,:]+:\d+)*$/, 'a comma-separated list of host:port')
  .transform((text) =>
    text.split(',').map((item) => {
      const [host, port] = item.split(':') as [string, string]
      return { host, port: Number(port) }
    }),
  )

export const masterKey = z.string().refine((text) => {
  const trimmed = text.trim()
  return /^[A-Za-z0-9+/]+={0,2}$/.test(trimmed) && Buffer.from(trimmed, 'base64').byteLength === 32
}, 'base64 of exactly 32 bytes (openssl rand -base64 32)')

/** "10.0.0.0/8, 192.168.1.7, fd00::/8": addresses or CIDR blocks, IPv4 or IPv6. */
export const cidrList = z.string().transform((text, ctx) => {
  const items = text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
  const blocks = items.map(parseCidr).filter((block) => block !== null)
  if (blocks.length < items.length)
    ctx.addIssue({ code: 'custom', message: 'a comma-separated list of IP addresses or CIDR blocks' })
  return blocks
})

export const commaList = z.string().transform((text) =>
  text
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean),
)
