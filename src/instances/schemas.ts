// Schemas of the instances API. The password is write-only: accepted, encrypted, never returned.
import { z } from '@hono/zod-openapi'

const name = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/,
    'letters, digits, ".", "_" or "-", up to 63, starting with a letter or digit',
  )
  .openapi({ example: 'orders-primary' })
const host = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[A-Za-z0-9._:-]+$/, 'a host name or IP address')
  .openapi({ example: 'db1.internal' })
const sslmode = z
  .enum(['disable', 'prefer', 'require', 'verify-ca', 'verify-full'])
  .openapi({ description: 'As libpq sslmode.' })
const pem = z
  .string()
  .max(65_536)
  .regex(/-----BEGIN CERTIFICATE-----/, 'a PEM certificate bundle')
  .openapi({ description: 'CA bundle (PEM) for verify-ca / verify-full.' })
const tags = z
  .record(z.string().regex(/^[a-z][a-z0-9_]{0,31}$/, 'a lower-case tag name'), z.string().max(128))
  .refine((t) => Object.keys(t).length <= 32, 'at most 32 tags')
  .openapi({ example: { env: 'prod', team: 'payments' } })

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
    tags: tags.default({}),
    enabled: z.boolean().default(true),
  })
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
  })
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
    extensions: z.record(z.string(), z.string()),
    statementsColumns: z.array(z.string()),
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
    capabilities: CapabilitiesSchema.nullable(),
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
