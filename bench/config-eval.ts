// What evaluating the configuration costs a compiled binary before `serve` can begin: module
// evaluation of src/config.ts (and the sections it composes) plus the first loadConfig({}).
// It PRINTS figures; it never passes or fails on them. It builds small probes the way
// scripts/build.sh builds the binary (--compile --bytecode --splitting --format=esm --minify):
//   - an empty entry: the same-run reference (the runtime's own start);
//   - an entry importing this tree's src/config.ts and calling loadConfig({});
//   - with BENCH_COMPARE_SOURCE=/path/to/another/checkout (its node_modules reachable, e.g.
//     `git archive REV src package.json | tar -x -C DIR` plus a node_modules symlink), the same
//     entry over that tree, for before/after.
// Then it runs them interleaved BENCH_RUNS (default 15) times, each pinned to CPU 0, and prints
// the median, min and max wall time of spawn → exit, and the load average.
// Run from the repository root: node_modules/.bin/bun bench/config-eval.ts   (about 20 s)
import { rmSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { join, resolve } from 'node:path'
import { tempDir } from '../test/harness/processes.ts'
import { fmt, median, note, table } from './support.ts'

const root = resolve(import.meta.dir, '..')
const runs = Number(process.env.BENCH_RUNS ?? 15)
const compareSource = process.env.BENCH_COMPARE_SOURCE
const work = tempDir('bench-config-eval')
const bun = join(root, 'node_modules/.bin/bun')

function buildProbe(name: string, source: string): string {
  const entry = join(work, `${name}.ts`)
  writeFileSync(entry, source)
  const outfile = join(work, name)
  const build = Bun.spawnSync(
    [
      bun,
      'build',
      '--compile',
      '--bytecode',
      '--splitting',
      '--format=esm',
      '--minify',
      entry,
      '--outfile',
      outfile,
    ],
    { cwd: root, stdout: 'pipe', stderr: 'pipe' },
  )
  if (build.exitCode !== 0) throw new Error(`building ${name} failed:\n${build.stderr.toString()}`)
  return outfile
}

// The probe fails (exit 1) unless the configuration really parsed.
const configEntry = (tree: string) =>
  `import { loadConfig } from ${JSON.stringify(join(tree, 'src/config.ts'))}\n` +
  `if (loadConfig({}).http.port !== 8080) process.exit(1)\n`

// The probes and their entries go away however the run ends.
process.on('exit', () => rmSync(work, { recursive: true, force: true }))

note('building the probes...')
const probes: [label: string, path: string][] = [
  ['empty entry (reference)', buildProbe('empty', 'if (process.env.PROBE_NEVER_SET) console.log(1)\n')],
  ['configuration (this tree)', buildProbe('config', configEntry(root))],
]
if (compareSource)
  probes.push([
    `configuration (${compareSource})`,
    buildProbe('config-compare', configEntry(resolve(compareSource))),
  ])

const loadBefore = loadavg()
const times = new Map<string, number[]>(probes.map(([label]) => [label, []]))
for (let round = 0; round < runs; round++)
  for (const [label, path] of probes) {
    const started = performance.now()
    const child = Bun.spawnSync(['taskset', '-c', '0', path], { stdout: 'ignore', stderr: 'pipe', env: {} })
    const ms = performance.now() - started
    if (child.exitCode !== 0) throw new Error(`${label} exited ${child.exitCode}: ${child.stderr.toString()}`)
    times.get(label)?.push(ms)
  }
const loadAfter = loadavg()

const reference = median(times.get(probes[0]?.[0] as string) ?? [])
console.log(
  `Configuration evaluation in a compiled probe (spawn -> exit, pinned to CPU 0, ${runs} interleaved runs); ` +
    `load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')} before, ${loadAfter.map((l) => l.toFixed(2)).join(' ')} after`,
)
console.log(
  table(
    ['probe', 'median ms', 'min', 'max', 'over reference'],
    probes.map(([label]) => {
      const t = times.get(label) ?? []
      return [label, fmt(median(t)), fmt(Math.min(...t)), fmt(Math.max(...t)), fmt(median(t) - reference)]
    }),
    [1, 2, 3, 4],
  ),
)
