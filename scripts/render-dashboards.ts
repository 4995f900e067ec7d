// Writes grafana/dashboards/*.json from grafana/src (npm run dashboards); with --check, exits 1
// when a committed file differs from what the source produces (CI's drift check).
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { dashboardJson, dashboards } from '../grafana/src/index.ts'

const dir = join(import.meta.dirname, '..', 'grafana', 'dashboards')
const check = process.argv.includes('--check')
let stale = 0
for (const definition of dashboards) {
  const path = join(dir, definition.file)
  const text = dashboardJson(definition)
  if (!check) writeFileSync(path, text)
  else if (readFileSync(path, 'utf8') !== text) {
    console.error(`${path} is out of date: run npm run dashboards`)
    stale++
  }
}
process.exit(stale > 0 ? 1 : 0)
