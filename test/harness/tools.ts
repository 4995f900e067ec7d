// Where the tools installed by scripts/ensure-tools.sh live (`npm test` also puts them on PATH),
// so a test run straight from vitest finds them too.
import { existsSync } from 'node:fs'
import { join } from 'node:path'

const toolsBin = join(import.meta.dirname, '..', '..', '.tools', 'bin')

/** The path of a tool: .tools/bin first, else the bare name (found on PATH). */
export function toolPath(name: string): string {
  const local = join(toolsBin, name)
  return existsSync(local) ? local : name
}
