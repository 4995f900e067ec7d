// Writes the alerting rules, their promtool tests and docs/ALERTS.md from prometheus/src
// (npm run alerts); with --check, exits 1 when a committed file differs (CI's drift check).
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { renderedFiles } from '../prometheus/src/render.ts'

const root = join(import.meta.dirname, '..')
const outputs = renderedFiles()
const check = process.argv.includes('--check')
let stale = 0
for (const [path, text] of outputs) {
  if (!check) writeFileSync(join(root, path), text)
  else if (readFileSync(join(root, path), 'utf8') !== text) {
    console.error(`${path} is out of date: run npm run alerts`)
    stale++
  }
}
process.exit(stale > 0 ? 1 : 0)
