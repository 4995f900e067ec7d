// Backup schedules: cron expressions in a time zone (croner), the next run computed and stored,
// and a ticker every replica runs; advancing a schedule is a compare-and-set on its next run, so
// exactly one replica starts each run. A run missed while no replica was up either runs once at
// the next tick or is skipped, as the schedule says; every run and skip is in the execution log.
import { Cron } from 'croner'
import { BadRequestError } from '../http/errors.ts'
import * as ops from './repo-ops.ts'
import type { RunnerDeps } from './runner.ts'

/** The first run strictly after `after`, or null when the expression never fires again. */
export function nextRun(expression: string, timeZone: string, after: Date): Date | null {
  return new Cron(expression, { timezone: timeZone, paused: true }).nextRun(after)
}

/** Refuses an expression or time zone croner cannot use, naming the field. */
export function checkCron(expression: string, timeZone: string): void {
  try {
    Intl.DateTimeFormat(undefined, { timeZone })
  } catch {
    throw new BadRequestError('invalid_time_zone', `${timeZone} is not an IANA time zone`, [
      { path: 'body.timeZone', message: 'an IANA time zone such as Europe/Berlin' },
    ])
  }
  try {
    new Cron(expression, { timezone: timeZone, paused: true })
  } catch (error) {
    throw new BadRequestError('invalid_cron_expression', `${expression}: ${(error as Error).message}`, [
      { path: 'body.cronExpression', message: 'a cron expression such as "0 2 * * *"' },
    ])
  }
}

/** How late a run may start and still count as on time (not missed). */
const onTimeMs = 60_000

export class ScheduleTicker {
  constructor(
    private readonly deps: RunnerDeps,
    /** Starts a backup for the schedule; returns its id. */
    private readonly trigger: (schedule: ops.ScheduleRow) => Promise<string>,
  ) {}

  async tick(now = new Date()): Promise<void> {
    for (const schedule of await ops.dueSchedules(this.deps.db)) {
      const due = schedule.nextRunAt as Date
      const next = nextRun(schedule.cronExpression, schedule.timeZone, now)
      const missed = now.getTime() - due.getTime() > onTimeMs
      const run = !missed || schedule.missedRunPolicy === 'run_once'
      if (!(await ops.advanceSchedule(this.deps.db, schedule.id, due, next, run))) continue // another replica won
      if (!run) {
        await ops.logExecution(this.deps.db, {
          scheduleId: schedule.id,
          step: 'schedule',
          status: 'skipped',
          message: `the run due at ${due.toISOString()} was missed (no replica running) and the schedule skips missed runs`,
        })
        continue
      }
      try {
        const backupId = await this.trigger(schedule)
        await ops.logExecution(this.deps.db, {
          scheduleId: schedule.id,
          backupId,
          step: 'backup',
          status: 'started',
          message: missed ? `missed run due at ${due.toISOString()}, run once now` : null,
        })
      } catch (error) {
        await ops.logExecution(this.deps.db, {
          scheduleId: schedule.id,
          step: 'backup',
          status: 'failed',
          message: (error as Error).message,
        })
        this.deps.log.warn('scheduled backup could not start', {
          schedule: schedule.name,
          error: (error as Error).message,
        })
      }
    }
  }
}
