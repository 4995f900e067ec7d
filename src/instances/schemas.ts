// Schemas of the instances API. The password is write-only: accepted, encrypted, never returned.
import { z } from '@hono/zod-openapi'
import { groupNames } from '../collector/catalog/index.ts'
import { absentMeans, orNull } from '../http/schema-shapes.ts'

const name = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/,
    'letters, digits, ".", "_" or "-", up to 63, starting with a letter or digit',
  )
  .openapi({ example: 'orders-primary' })
const ipv4 =
  '(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])\\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])'
const h16 = '[0-9A-Fa-f]{1,4}'
const ipv6 = [
  `(?:${h16}:){7}${h16}`,
  `(?:${h16}:){1,7}:`,
  `(?:${h16}:){1,6}:${h16}`,
  `(?:${h16}:){1,5}(?::${h16}){1,2}`,
  `(?:${h16}:){1,4}(?::${h16}){1,3}`,
  `(?:${h16}:){1,3}(?::${h16}){1,4}`,
  `(?:${h16}:){1,2}(?::${h16}){1,5}`,
  `${h16}:(?::${h16}){1,6}`,
  `:(?:(?::${h16}){1,7}|:)`,
  `(?:${h16}:){6}${ipv4}`,
  `::(?:[Ff]{4}(?::0{1,4})?:)?${ipv4}`,
  `(?:${h16}:){1,5}:${ipv4}`,
].join('|')
/** An RFC 1123 label, `_` tolerated (container platforms name services with it). */
const label = '[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?'
/** The whole rule, as the document states it: a host name whose last label is not all digits (it
 * would read as an address), an IPv4 address, or an IPv6 address in brackets. The server checks
 * this very expression; hostProblem only explains a refusal. */
export const hostPattern = new RegExp(`^(?:(?:${label}\\.)*(?![0-9]+$)${label}|${ipv4}|\\[(?:${ipv6})\\])$`)

/** Why `value` is not a host to connect to, or undefined when it is one: a host name, an IPv4
 * address, or an IPv6 address in brackets. Unbracketed IPv6 is refused (with a hint) so one
 * address has one spelling and `host:port` in messages stays unambiguous. */
export function hostProblem(value: string): string | undefined {
  if (hostPattern.test(value)) return undefined
  if (value.startsWith('[')) return 'an IPv6 address in brackets, such as [2001:db8::1]'
  if (value.includes(':'))
    return new RegExp(`^(?:${ipv6})$`).test(value)
      ? `an IPv6 address must be written in brackets: [${value}]`
      : 'a host name, an IPv4 address or an IPv6 address in brackets'
  const labels = value.split('.')
  if (/^\d+$/.test(labels[labels.length - 1] as string)) return 'an IPv4 address: four numbers from 0 to 255'
  return 'a host name: dot-separated labels of 1 to 63 letters, digits, "-" or "_", not starting or ending with "-"'
}

const host = z
  .string()
  .min(1)
  .max(253)
  .superRefine((value, ctx) => {
    const problem = hostProblem(value)
    if (problem) ctx.addIssue({ code: 'custom', message: problem })
  })
  .openapi({
    description: 'A host name, an IPv4 address, or an IPv6 address in brackets ([2001:db8::1]).',
    pattern: hostPattern.source,
    example: 'db1.internal',
  })
const sslmode = z
  .enum(['disable', 'prefer', 'require', 'verify-ca', 'verify-full'])
  .openapi({ description: 'As libpq sslmode.' })
const pem = z
  .string()
  .max(65_536)
  .regex(/-----BEGIN CERTIFICATE-----/, 'a PEM certificate bundle')
  .openapi({
    description: 'CA bundle (PEM) for verify-ca / verify-full.',
    // With the NUL rule every input follows (createRouter), as the document states it.
    pattern: '^[^\\x00]*-----BEGIN CERTIFICATE-----[^\\x00]*$',
  })
// An open map by nature (the operator's own tag names); names and values are bounded.
const tagName = /^[a-z][a-z0-9_]{0,31}$/
const tags = z
  .record(z.string().regex(tagName, 'a lower-case tag name'), z.string().max(128))
  .refine((t) => Object.keys(t).length <= 32, 'at most 32 tags')
  .openapi({
    // zod does not carry a record's key rule or the refinement into the document (propertyNames
    // is JSON Schema 2020-12, which the metadata type does not list).
    ...({ propertyNames: { pattern: tagName.source } } as object),
    maxProperties: 32,
    example: { env: 'prod', team: 'payments' },
  })

const groupName = z.enum(groupNames as [string, ...string[]])
const intervals = z
  .partialRecord(
    groupName,
    z
      .number()
      .int()
      .min(0, '0 (off) or 5 to 86400 seconds')
      .max(86_400, '0 (off) or 5 to 86400 seconds')
      .refine((s) => s === 0 || s >= 5, '0 (off) or 5 to 86400 seconds'),
  )
  .openapi({
    // zod already refuses other keys (the keys are an enum); say so in the document too.
    additionalProperties: false,
    description: 'Seconds between collections of a metric group, overriding its default; 0 turns it off.',
    example: { statements: 600, locks: 0 },
  })
const databasePatterns = z
  .array(
    z
      .string()
      .min(1)
      .max(128)
      .regex(/^[^\s]+$/, 'a database name or glob (* and ?)')
      // With the NUL rule every input follows (createRouter), as the document states it.
      .openapi({ pattern: '^[^\\s\\x00]+$' }),
  )
  .max(64)
const collectionFields = {
  intervals,
  includeDatabases: databasePatterns.openapi({
    description: 'Databases (globs) whose tables and indexes are collected.',
    example: ['*'],
  }),
  excludeDatabases: databasePatterns.openapi({
    description: 'Databases (globs) skipped even when included.',
    example: ['scratch_*'],
  }),
  collectQueryText: z
    .boolean()
    .openapi({ description: 'Store the text of each statement once per queryid (off: queryids only).' }),
}

/** How backups reach the instance (src/backup). */
const backupFields = {
  replicationUsername: z.string().min(1).max(63).optional().openapi({
    description:
      'Login with REPLICATION for pg_basebackup and pg_receivewal; unset: the monitoring login is used (it then needs REPLICATION).',
    example: 'pga_backup',
  }),
  replicationPassword: z
    .string()
    .max(1024)
    .optional()
    .openapi({ description: 'Write-only; stored encrypted.', format: 'password' }),
  walStreaming: z.boolean().default(true).openapi({
    description: 'Stream WAL continuously (through a replication slot) once a full backup exists.',
  }),
}

export const InstanceInputSchema = z
  .object({
    name,
    host,
    port: z.number().int().min(1).max(65535).default(5432),
    database: z.string().min(1).max(63).default('postgres'),
    username: z.string().min(1).max(63).openapi({ example: 'pga_monitor' }),
    password: z
      .string()
      .max(1024)
      .optional()
      .openapi({ description: 'Write-only; stored encrypted.', format: 'password' }),
    sslmode: sslmode.default('prefer'),
    sslRootCert: pem.optional(),
    tags: absentMeans(tags, {}),
    enabled: z.boolean().default(true),
    intervals: absentMeans(collectionFields.intervals, {}),
    includeDatabases: collectionFields.includeDatabases.default(['*']),
    excludeDatabases: collectionFields.excludeDatabases.default([]),
    collectQueryText: collectionFields.collectQueryText.default(true),
    ...backupFields,
  })
  // Closed: an unknown field (isSelf, id, ...) is a 400 naming it, never silently dropped.
  .strict()
  .openapi('InstanceInput')

export const InstanceUpdateSchema = z
  .object({
    name: name.optional(),
    host: host.optional(),
    port: z.number().int().min(1).max(65535).optional(),
    database: z.string().min(1).max(63).optional(),
    username: z.string().min(1).max(63).optional(),
    password: z
      .string()
      .max(1024)
      .nullable()
      .optional()
      .openapi({ description: 'Write-only; null removes it.', format: 'password' }),
    sslmode: sslmode.optional(),
    sslRootCert: pem.nullable().optional(),
    tags: tags.optional(),
    enabled: z.boolean().optional(),
    intervals: collectionFields.intervals.optional(),
    includeDatabases: collectionFields.includeDatabases.optional(),
    excludeDatabases: collectionFields.excludeDatabases.optional(),
    collectQueryText: collectionFields.collectQueryText.optional(),
    replicationUsername: backupFields.replicationUsername.nullable(),
    replicationPassword: z
      .string()
      .max(1024)
      .nullable()
      .optional()
      .openapi({ description: 'Write-only; null removes it.', format: 'password' }),
    walStreaming: z.boolean().optional(),
  })
  .strict()
  .openapi('InstanceUpdate')

export const CapabilitiesSchema = z
  .object({
    serverVersion: z.string(),
    serverVersionNum: z.number().int(),
    inRecovery: z.boolean(),
    user: z.string(),
    superuser: z.boolean(),
    pgMonitor: z.boolean(),
    trackIoTiming: z.boolean(),
    views: z.array(z.string()),
    columns: z
      .record(z.string(), z.array(z.string()))
      .openapi({ description: 'Columns of each statistics view, as found in the catalog.' }),
    extensions: z.record(z.string(), z.string()),
    statementsSchema: z.string().nullable(),
    statementsLoaded: z.boolean().optional().openapi({
      description:
        'pg_stat_statements is loaded (shared_preload_libraries); absent in probes recorded before it was probed.',
    }),
    extensionSchemas: z.record(z.string(), z.string()).optional().openapi({
      description: 'Schema of each installed extension; absent in probes recorded before it was probed.',
    }),
    waitSamplingLoaded: z.boolean().optional().openapi({
      description:
        'pg_wait_sampling is loaded (shared_preload_libraries): session_samples reads its profile; absent in older probes.',
    }),
    limitations: z
      .array(z.string())
      .openapi({ description: 'What monitoring cannot do on this instance, and why.' }),
  })
  .openapi('Capabilities')

export const InstanceSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    host: z.string(),
    port: z.number().int(),
    database: z.string(),
    username: z.string(),
    hasPassword: z.boolean(),
    sslmode,
    hasSslRootCert: z.boolean(),
    tags: z.record(z.string(), z.string()),
    enabled: z.boolean(),
    intervals: z.record(z.string(), z.number().int()).openapi({ description: 'Overrides as set.' }),
    effectiveIntervals: z
      .record(z.string(), z.number().int())
      .openapi({ description: 'Seconds between collections of every group (0: off), defaults applied.' }),
    includeDatabases: z.array(z.string()),
    excludeDatabases: z.array(z.string()),
    collectQueryText: z.boolean(),
    replicationUsername: z.string().nullable(),
    hasReplicationPassword: z.boolean(),
    walStreaming: z.boolean(),
    isSelf: z.boolean().openapi({ description: 'The service’s own store, registered by the service.' }),
    capabilities: orNull(CapabilitiesSchema),
    probedAt: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('Instance')

export const InstanceListSchema = z.object({ items: z.array(InstanceSchema) }).openapi('InstanceList')

export const ConnectionTestSchema = z
  .object({ ok: z.literal(true), latencyMs: z.number(), capabilities: CapabilitiesSchema })
  .openapi('ConnectionTest')

export const InstanceIdParams = z.object({ id: z.uuid().openapi({ param: { name: 'id', in: 'path' } }) })
export const CreateQuery = z.object({
  test: z
    .enum(['true', 'false'])
    .default('true')
    .openapi({
      param: { name: 'test', in: 'query' },
      description: 'Test the connection before saving (default true).',
    }),
})
