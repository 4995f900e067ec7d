// Time windows of the read API: defaults, limits, and the step that keeps a series readable.
import { BadRequestError } from '../http/errors.ts'

export const maxRangeDays = 31
export const maxPoints = 11_000

export type TimeRange = { from: Date; to: Date; stepSeconds: number }

/** Parses from/to (ISO 8601; default: the last hour) and step (seconds; default: ≤ 500 points). */
export function resolveRange(
  query: { from?: string | undefined; to?: string | undefined; step?: number | undefined },
  now: number,
): TimeRange {
  const to = query.to ? new Date(query.to) : new Date(now)
  const from = query.from ? new Date(query.from) : new Date(to.getTime() - 3_600_000)
  if (from.getTime() >= to.getTime())
    throw new BadRequestError('invalid_range', '`from` must be before `to`.', [
      { path: 'query.from', message: 'must be before to' },
    ])
  const spanSeconds = (to.getTime() - from.getTime()) / 1000
  if (spanSeconds > maxRangeDays * 86_400)
    throw new BadRequestError('range_too_wide', `A range may span at most ${maxRangeDays} days.`, [
      { path: 'query.from', message: `at most ${maxRangeDays} days before to` },
    ])
  const stepSeconds = query.step ?? Math.max(1, Math.ceil(spanSeconds / 500))
  if (spanSeconds / stepSeconds > maxPoints)
    throw new BadRequestError(
      'too_many_points',
      `The range and step give more than ${maxPoints} points per series; raise step.`,
      [{ path: 'query.step', message: `at least ${Math.ceil(spanSeconds / maxPoints)} for this range` }],
    )
  return { from, to, stepSeconds }
}
