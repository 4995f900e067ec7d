// The lifecycle's readiness report: what serve waits for before starting background work.
import { describe, expect, it } from 'vitest'
import { Lifecycle } from '../../src/system/lifecycle.ts'

describe('readinessReported', () => {
  it('resolves when /readyz has answered 200, and at once afterwards', async () => {
    const lifecycle = new Lifecycle(Date.now())
    let reported = false
    const waiting = lifecycle.readinessReported(60_000).then(() => {
      reported = true
    })
    await Promise.resolve()
    expect(reported).toBe(false)
    lifecycle.readinessAnswered()
    await waiting
    expect(reported).toBe(true)
    expect(lifecycle.readinessKnown).toBe(true)
    await lifecycle.readinessReported(60_000)
  })

  it('resolves after its timeout when no probe comes', async () => {
    const lifecycle = new Lifecycle(Date.now())
    const started = performance.now()
    await lifecycle.readinessReported(50)
    expect(performance.now() - started).toBeGreaterThanOrEqual(45)
    expect(lifecycle.readinessKnown).toBe(false)
  })
})
