// Renders docs/HELM_VALUES_REFERENCE.md from helm/pganalytics/values.yaml, helm-docs style: every
// key preceded by a `# -- description` comment (continued by further `#` lines; `# @default --`
// replaces the shown default) becomes a row. Run `node_modules/.bin/bun scripts/render-helm-values-doc.ts`
// after editing values.yaml; test/deploy/helm.test.ts fails when the committed page drifts.
import { readFileSync, writeFileSync } from 'node:fs'
import { parse } from 'yaml'

export type DocumentedKey = {
  /** Dotted path, e.g. `postgresql.external.sslMode`. */
  path: string
  description: string
  /** Set by `# @default -- text`: shown instead of the value. */
  defaultText?: string
}

const keyLine = /^( *)([A-Za-z0-9_.-]+|"[^"]+"|'[^']+'):(?: |$)/

/** The keys of values.yaml that carry a `# --` description, in file order. */
export function documentedKeys(valuesText: string): DocumentedKey[] {
  const keys: DocumentedKey[] = []
  const stack: { indent: number; key: string }[] = []
  let pending: { lines: string[]; defaultText?: string } | undefined
  let listIndent: number | undefined
  for (const line of valuesText.split('\n')) {
    const trimmed = line.trim()
    const indent = line.length - line.trimStart().length
    if (trimmed === '') {
      pending = undefined
      continue
    }
    if (trimmed.startsWith('#')) {
      const text = trimmed.replace(/^#\s?/, '')
      if (text.startsWith('-- ')) pending = { lines: [text.slice(3).trim()] }
      else if (text.startsWith('@default -- ') && pending) pending.defaultText = text.slice(12).trim()
      else if (pending) pending.lines.push(text.trim())
      continue
    }
    // Inside a list value: its items (and the maps in them) belong to the key above.
    if (listIndent !== undefined && indent >= listIndent) continue
    listIndent = undefined
    if (trimmed.startsWith('- ') || trimmed === '-') {
      listIndent = indent
      continue
    }
    const match = keyLine.exec(line)
    if (!match) continue
    const key = (match[2] as string).replace(/^["']|["']$/g, '')
    while (stack.length > 0 && (stack[stack.length - 1] as { indent: number }).indent >= indent) stack.pop()
    stack.push({ indent, key })
    if (pending) {
      keys.push({
        path: stack.map((s) => s.key).join('.'),
        description: pending.lines.join(' '),
        ...(pending.defaultText ? { defaultText: pending.defaultText } : {}),
      })
    }
    pending = undefined
  }
  return keys
}

/** The value at a dotted path of the parsed values. */
export function valueAt(values: unknown, path: string): unknown {
  let current = values
  for (const part of path.split('.')) {
    if (current === null || typeof current !== 'object') return undefined
    current = (current as Record<string, unknown>)[part]
  }
  return current
}

function typeOf(value: unknown): string {
  if (Array.isArray(value)) return 'list'
  if (value === null || value === undefined) return 'string'
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float'
  if (typeof value === 'boolean') return 'bool'
  return typeof value === 'object' ? 'object' : 'string'
}

const cell = (text: string) => text.replaceAll('|', '\\|')

/** The whole page. */
export function renderHelmValuesDoc(valuesText: string): string {
  const values = parse(valuesText) as unknown
  const rows = documentedKeys(valuesText).map((key) => {
    const value = valueAt(values, key.path)
    const shown = key.defaultText ?? `\`${JSON.stringify(value ?? null)}\``
    return `| \`${key.path}\` | ${typeOf(value)} | ${cell(shown)} | ${cell(key.description)} |`
  })
  return [
    '# Helm values reference',
    '',
    '<!-- Generated from helm/pganalytics/values.yaml by scripts/render-helm-values-doc.ts; do not edit by hand. -->',
    '',
    'Every value of the `helm/pganalytics` chart, with its default. The service itself is configured',
    'through environment variables ([CONFIGURATION.md](CONFIGURATION.md)): the chart sets the ones named',
    'below from these values, and `config` / `secretEnv` pass any other. How the values fit together:',
    '[KUBERNETES_DEPLOYMENT.md](KUBERNETES_DEPLOYMENT.md). Ready-made sets: `values-dev.yaml`,',
    '`values-prod.yaml`, `values-enterprise.yaml` next to `values.yaml`.',
    '',
    'Regenerate after editing `values.yaml`: `node_modules/.bin/bun scripts/render-helm-values-doc.ts`.',
    '',
    '| Key | Type | Default | Description |',
    '|---|---|---|---|',
    ...rows,
    '',
  ].join('\n')
}

const valuesPath = new URL('../helm/pganalytics/values.yaml', import.meta.url)
const docPath = new URL('../docs/HELM_VALUES_REFERENCE.md', import.meta.url)

/** The page as values.yaml says it should be (what the drift test compares with). */
export function expectedHelmValuesDoc(): string {
  return renderHelmValuesDoc(readFileSync(valuesPath, 'utf8'))
}

if (import.meta.main) writeFileSync(docPath, expectedHelmValuesDoc())
