// Writes grafana/dashboards/*.json and docs/DASHBOARDS.md from grafana/src (npm run dashboards);
// with --check, exits 1 when a committed file differs from what the source produces.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { dashboardJson, dashboards, dashboardsDoc } from '../grafana/src/index.ts'

const root = join(import.meta.dirname, '..')
const outputs: [string, string][] = [
  ...dashboards.map((d): [string, string] => [join(root, 'grafana', 'dashboards', d.file), dashboardJson(d)]),
  [join(root, 'docs', 'DASHBOARDS.md'), dashboardsDoc()],
]
const check = process.argv.includes('--check')
let stale = 0
for (const [path, text] of outputs) {
  if (!check) writeFileSync(path, text)
  else if (readFileSync(path, 'utf8') !== text) {
    console.error(`${path} is out of date: run npm run dashboards`)
    stale++
  }
}
process.exit(stale > 0 ? 1 : 0)
