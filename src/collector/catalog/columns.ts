// Short constructors for catalog columns, so each group reads as a table of names and meanings.
import type { Column } from './types.ts'

export const statsReset: Column = {
  name: 'stats_reset',
  type: 'timestamptz',
  kind: 'info',
  help: 'When these counters were last reset (deltas across it are null).',
}
/** A cumulative counter; times in ms are double precision, everything else bigint. */
export const counter = (name: string, help: string, unit: Column['unit'] = 'count'): Column => ({
  name,
  type: unit === 'ms' ? 'double precision' : 'bigint',
  kind: 'counter',
  unit,
  help,
})
export const gauge = (name: string, type: Column['type'], help: string, unit?: Column['unit']): Column => ({
  name,
  type,
  kind: 'gauge',
  ...(unit ? { unit } : {}),
  help,
})
export const info = (name: string, type: Column['type'], help: string): Column => ({
  name,
  type,
  kind: 'info',
  help,
})
export const key = (name: string, type: Column['type'], help: string): Column => ({
  name,
  type,
  kind: 'key',
  help,
})
export const label = (name: string, type: Column['type'], help: string): Column => ({
  name,
  type,
  kind: 'label',
  help,
})
