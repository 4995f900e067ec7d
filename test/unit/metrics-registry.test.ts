import { describe, expect, it } from 'vitest'
import { MetricsRegistry } from '../../src/platform/metrics/registry.ts'

describe('MetricsRegistry', () => {
  it('renders counters, collected gauges and cumulative histogram buckets', async () => {
    const registry = new MetricsRegistry()
    registry.counter('t_total', 'Things.').inc({ kind: 'a' }, 2)
    registry.gauge('t_up', 'Up.', () => [{ labels: { dep: 'x"y' }, value: 1 }])
    const h = registry.histogram('t_seconds', 'Durations.', [0.1, 1])
    h.observe(0.05)
    h.observe(0.5)
    h.observe(5)
    const text = await registry.render()
    expect(text).toContain('# TYPE t_total counter\nt_total{kind="a"} 2')
    expect(text).toContain('t_up{dep="x\\"y"} 1')
    expect(text).toContain(
      't_seconds_bucket{le="0.1"} 1\nt_seconds_bucket{le="1"} 2\nt_seconds_bucket{le="+Inf"} 3',
    )
    expect(text).toContain('t_seconds_sum 5.55\nt_seconds_count 3')
    expect(text.endsWith('\n')).toBe(true)
  })

  it('refuses the same name twice', () => {
    const registry = new MetricsRegistry()
    registry.counter('dup', 'x')
    expect(() => registry.gauge('dup', 'y')).toThrow(/registered twice/)
  })
})
