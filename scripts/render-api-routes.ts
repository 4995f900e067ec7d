// Writes src/api-routes.json, which capability serves which method and path, from the routes
// (part of npm run openapi); with --check, exits 1 when the committed file differs (CI's drift
// check). `serve` reads it to load a capability's routes on first use (src/api-capabilities.ts).
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { generateApiRouteTable } from '../src/openapi-document.ts'

const path = join(import.meta.dirname, '..', 'src', 'api-routes.json')
const text = `${JSON.stringify(generateApiRouteTable(), null, 2)}\n`
if (!process.argv.includes('--check')) writeFileSync(path, text)
else if (readFileSync(path, 'utf8') !== text) {
  console.error('src/api-routes.json is out of date with the routes: run npm run openapi')
  process.exit(1)
}
