// docs/ALERTS.md from the alert definitions: every alert with its severity, expression, what it
// means, its cause and runbook, under the anchor its runbook_url points at.
import type { AlertGroup } from './types.ts'

const intro = (count: number) => `# Alerts

${count} Prometheus alerting rules over the pganalytics exposition (\`/metrics/instances\`: the monitored
instances and their hosts) and the service's own \`/metrics\`. Generated from \`prometheus/src\`
(\`npm run alerts\` writes this page, one rules file per group in \`prometheus/rules/\` and its
promtool tests in \`prometheus/tests/\`; do not edit them by hand).

- **Load them**: \`prometheus/prometheus.yml\` scrapes \`/metrics/instances\` (an API key with
  \`metrics:read\`, \`honor_labels: true\` so \`instance\` stays the monitored instance's name), the
  tables group every 5 minutes for the table alerts, and each replica's \`/metrics\`; it loads
  \`rules/*.yml\`. Route by \`severity\` (\`critical\` pages, \`warning\` tickets, \`info\` dashboards).
- **Tested**: \`npm test\` runs \`promtool check rules\` and \`promtool test rules\`: each alert fires
  on a series that should fire it (\`db-bad\`) and stays silent on one that should not (\`db-good\`),
  with its exact labels and annotations. Another test checks that every metric a rule names is
  one the exposition or the service exports.
- **Thresholds** are starting points for a typical OLTP fleet; change them in \`prometheus/src\`
  and regenerate, so the tests move with them.
- **Not covered**: certificate expiry. pganalytics does not record the TLS certificates of the
  monitored servers (nor its own), so no metric exists to alert on; use the blackbox exporter's
  \`probe_ssl_earliest_cert_expiry\` for them.
`

export function renderAlertsDoc(groups: readonly AlertGroup[]): string {
  const count = groups.reduce((n, g) => n + g.alerts.length, 0)
  const index = groups
    .map(
      (g) =>
        `| **${g.title}** | | |\n${g.alerts
          .map((a) => `| [${a.alert}](#${a.alert.toLowerCase()}) | ${a.severity} | ${a.for ?? 'at once'} |`)
          .join('\n')}`,
    )
    .join('\n')
  const sections = groups.map(
    (g) => `## ${g.title}

${g.intro}

${g.alerts
  .map(
    (a) => `### ${a.alert}

- **Severity**: ${a.severity}; fires after ${a.for ?? 'the first evaluation'}.
- **Means**: ${a.description.replace(/\{\{[^}]*\}\}/g, '…')}
- **Cause**: ${a.cause}

\`\`\`promql
${a.expr}
\`\`\`

Runbook:
${a.runbook.map((step, i) => `${i + 1}. ${step}`).join('\n')}
`,
  )
  .join('\n')}`,
  )
  return `${intro(count)}
| Alert | Severity | For |
|---|---|---|
${index}

${sections.join('\n')}`
}
