// docs/DASHBOARDS.md: how to run the dashboards (provisioning, the store's read-only roles,
// signing in with pganalytics), how they are built and tested, then each dashboard: the questions
// it answers, its variables and every panel with its query. Generated with the JSON (npm run
// dashboards), so the queries shown are the ones shipped.
import type { Panel } from '@grafana/grafana-foundation-sdk/dashboard'
import type { DashboardDefinition } from './board.ts'
import { intro } from './docs-intro.ts'

const fence = (language: string, text: string) => `\`\`\`${language}\n${text.trim()}\n\`\`\``

function section(definition: DashboardDefinition): string {
  const board = definition.build()
  const dashboard = board.build()
  const variables = (dashboard.templating.list ?? []).map(
    (v) =>
      `- \`$${v.name}\` (${v.label ?? v.name}${v.multi ? ', several or All' : ''}):\n\n${fence('sql', String(v.query)).replace(/^/gm, '  ')}`,
  )
  const panels = (dashboard.panels ?? [])
    .filter((p): p is Panel => p.type !== 'row')
    .map((panel) => {
      const target = (panel.targets?.[0] ?? {}) as { rawSql?: string; expr?: string }
      const empty = board.mayBeEmpty.get(panel.title ?? '')
      const query = target.rawSql ? fence('sql', target.rawSql) : fence('promql', target.expr ?? '')
      return `### ${panel.title}

${panel.description}${empty ? ` Empty when ${empty}.` : ''} (${panel.type}${target.expr ? ', Prometheus' : ''})

<details><summary>Query</summary>

${query}

</details>
`
    })
  return `## ${dashboard.title?.replace('pganalytics / ', '')}

\`grafana/dashboards/${definition.file}\`, uid \`${dashboard.uid}\`. ${definition.answers}

${variables.length > 0 ? `Variables:\n\n${variables.join('\n')}\n` : 'No variables: every instance at once.\n'}
${panels.join('\n')}`
}

export function renderDashboardsDoc(definitions: readonly DashboardDefinition[]): string {
  const index = definitions
    .map((d) => {
      const title = d.build().build().title?.replace('pganalytics / ', '') ?? d.file
      return `| [${title}](#${title
        .toLowerCase()
        .replace(/[^a-z0-9 -]/g, '')
        .replace(/ /g, '-')}) | ${d.answers} |`
    })
    .join('\n')
  return `${intro}
## The dashboards

| Dashboard | Answers |
|---|---|
${index}

${definitions.map(section).join('\n')}`
}
