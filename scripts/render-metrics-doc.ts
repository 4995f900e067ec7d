// Rewrites docs/METRICS.md from the metric catalog.
import { writeFileSync } from 'node:fs'
import { renderMetricsDoc } from '../src/collector/catalog/metrics-doc.ts'

writeFileSync(new URL('../docs/METRICS.md', import.meta.url), renderMetricsDoc())
