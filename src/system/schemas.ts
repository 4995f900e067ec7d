// Schemas of the system endpoints (probes, health, version, config check).
import { z } from '@hono/zod-openapi'

const CheckSchema = z
  .object({
    status: z.enum(['up', 'down']),
    kind: z.string().openapi({ example: 'postgres' }),
    latencyMs: z.number().optional(),
    error: z
      .string()
      .optional()
      .openapi({ description: 'Class of failure; never carries connection details.' }),
  })
  .openapi('DependencyCheck')

export const HealthSchema = z
  .object({
    status: z.enum(['ok', 'down']),
    phase: z.enum(['starting', 'ready', 'draining']),
    checks: z.object({ store: CheckSchema, state: CheckSchema }),
    singleReplicaOnly: z
      .boolean()
      .openapi({ description: 'True when the store or the state store is embedded (not shared).' }),
    uptimeSeconds: z.number(),
  })
  .openapi('Health')

export const ReadinessSchema = z
  .object({
    ready: z.boolean(),
    phase: z.enum(['starting', 'ready', 'draining']),
    checks: z.object({ store: CheckSchema, state: CheckSchema }).optional(),
  })
  .openapi('Readiness')

export const LivenessSchema = z.object({ status: z.literal('ok') }).openapi('Liveness')

export const VersionSchema = z
  .object({
    version: z.string().openapi({ example: '0.1.0' }),
    revision: z.string().openapi({ example: '3f2c1ab' }),
    runtime: z.string().openapi({ example: 'bun 1.4.5' }),
    apiVersion: z.literal('v1'),
  })
  .openapi('Version')

export const ConfigCheckRequestSchema = z
  .object({
    env: z
      .record(z.string().regex(/^[A-Z][A-Z0-9_]*$/, 'an environment variable name'), z.string().max(4096))
      .refine((env) => Object.keys(env).length <= 200, 'at most 200 variables')
      .openapi({
        description: 'Environment variables as they would be given to a replica.',
        example: { PGA_PORT: '8080', DATABASE_URL: 'postgres://pga:secret@db:5432/pganalytics' },
      }),
  })
  // Closed; `env` is an open map by nature (variables by name, unknown PGA_* ones are warned about).
  .strict()
  .openapi('ConfigCheckRequest')

export const ConfigCheckResultSchema = z
  .object({
    valid: z.literal(true),
    store: z.enum(['embedded', 'postgres']),
    state: z.enum(['memory', 'redis', 'upstash']),
    singleReplicaOnly: z.boolean(),
    config: z
      .record(z.string(), z.unknown())
      .openapi({ description: 'The parsed configuration, secrets redacted.' }),
    warnings: z
      .array(z.string())
      .openapi({ description: 'Unknown PGA_* variables (likely typos) and similar hints.' }),
  })
  .openapi('ConfigCheckResult')
