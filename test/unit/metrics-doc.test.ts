// docs/METRICS.md is generated from the catalog; this fails when one changed without the other.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect, it } from 'vitest'
import { renderMetricsDoc } from '../../src/collector/catalog/metrics-doc.ts'

it('docs/METRICS.md matches the metric catalog (npm run docs:metrics)', () => {
  const doc = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'METRICS.md'), 'utf8')
  expect(doc).toBe(renderMetricsDoc())
})
