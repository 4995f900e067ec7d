// Schemas of the keyring admin API.
import { z } from '@hono/zod-openapi'
import { orNull } from '../http/schema-shapes.ts'

const DataKeySchema = z
  .object({
    version: z.number().int(),
    state: z.enum(['active', 'decrypt_only', 'retired']),
    kekId: z
      .string()
      .openapi({ description: 'Fingerprint of the master key that wraps this data key (not the key).' }),
    encryptions: z
      .string()
      .openapi({ description: 'Encryptions reserved under this key (a decimal string: exact beyond 2^53).' }),
    createdAt: z.string(),
    stateChangedAt: z.string(),
  })
  .openapi('DataKey')

const RewrapRunSchema = z
  .object({
    id: z.string(),
    targetVersion: z.number().int(),
    state: z.enum(['running', 'done', 'superseded']).openapi({
      description: '`superseded`: a newer rotation started another run, which took over its work.',
    }),
    done: z.string(),
    total: z.string(),
    startedAt: z.string(),
    updatedAt: z.string(),
    finishedAt: z.string().nullable(),
    holder: z.string().nullable().openapi({ description: 'The replica that last worked on the run.' }),
    lastError: z.string().nullable().openapi({
      description:
        'Why the last pass stopped (for a value that cannot be moved: its table, column and row), until a pass gets through.',
    }),
    lastErrorAt: z.string().nullable(),
    stalled: z.boolean().openapi({
      description:
        'Running, but no replica has touched it for three maintenance intervals: no replica is working on it (check their logs and lastError).',
    }),
  })
  .openapi('RewrapRun')

export const KeyringReportSchema = z
  .object({
    activeVersion: z.number().int(),
    keys: z.array(DataKeySchema),
    rewrap: orNull(RewrapRunSchema).openapi({
      description: 'The latest re-encryption run and its progress.',
    }),
  })
  .openapi('KeyringReport')

export const RotationRequestSchema = z
  .object({ reason: z.string().min(1).max(200).openapi({ example: 'yearly rotation' }) })
  .strict()
  .openapi('KeyRotationRequest')

export const RotationResultSchema = z
  .object({
    activeVersion: z.number().int(),
    previousVersion: z.number().int(),
    rewrap: z
      .literal('started')
      .openapi({ description: 'Values under older keys are re-encrypted in the background.' }),
  })
  .openapi('KeyRotationResult')
