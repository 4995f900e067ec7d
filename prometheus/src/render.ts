// Turns the alert definitions into what is committed: the Prometheus rules file, the promtool
// unit tests (each alert fires for the `db-bad` series and not for the `db-good` ones), and
// docs/ALERTS.md. The tests' expected annotations are rendered here with the same template
// functions Prometheus uses (humanize, humanize1024, humanizeDuration, humanizePercentage).
import { stringify } from 'yaml'
import { backupAlerts } from './alerts/backup.ts'
import { engineAlerts } from './alerts/engine.ts'
import { hostAlerts } from './alerts/host.ts'
import { instanceAlerts } from './alerts/instances.ts'
import { machineAlerts } from './alerts/machine.ts'
import { replicationAlerts } from './alerts/replication.ts'
import { serviceAlerts } from './alerts/service.ts'
import { transactionAlerts } from './alerts/transactions.ts'
import { vacuumAlerts } from './alerts/vacuum.ts'
import { walAlerts } from './alerts/wal.ts'
import { renderAlertsDoc } from './render-doc.ts'
import type { AlertDefinition, AlertGroup } from './types.ts'

export const alertGroups: readonly AlertGroup[] = [
  serviceAlerts,
  instanceAlerts,
  transactionAlerts,
  engineAlerts,
  vacuumAlerts,
  walAlerts,
  replicationAlerts,
  hostAlerts,
  machineAlerts,
  backupAlerts,
]

export const allAlerts = (): AlertDefinition[] => alertGroups.flatMap((g) => g.alerts)

export const runbookUrl = (alert: string) => `https://pganalytics.dev/docs/ALERTS.md#${alert.toLowerCase()}`

const annotations = (a: AlertDefinition) => ({
  summary: a.summary,
  description: a.description,
  runbook_url: runbookUrl(a.alert),
})

const header = (what: string) =>
  `# ${what}\n# Generated from prometheus/src (npm run alerts); do not edit by hand. Runbooks: docs/ALERTS.md.\n`

/** The rules file of one group (prometheus/rules/<group>.yml). */
export function renderRules(group: AlertGroup): string {
  const rules = group.alerts.map((a) => ({
    alert: a.alert,
    expr: a.expr,
    ...(a.for ? { for: a.for } : {}),
    labels: { severity: a.severity },
    annotations: annotations(a),
  }))
  return (
    header(`pganalytics alerting rules: ${group.title}`) +
    stringify({ groups: [{ name: group.name, rules }] }, { lineWidth: 0 })
  )
}

/** Go's %.4g for the values the tests use (trailing zeros dropped, no exponent below 1e21). */
const g4 = (v: number) => String(Number(v.toPrecision(4)))

function humanize(v: number): string {
  if (v === 0) return g4(v)
  let prefix = ''
  if (Math.abs(v) >= 1) {
    for (const p of ['k', 'M', 'G', 'T', 'P', 'E']) {
      if (Math.abs(v) < 1000) break
      prefix = p
      v /= 1000
    }
  } else {
    for (const p of ['m', 'u', 'n', 'p', 'f', 'a']) {
      if (Math.abs(v) >= 1) break
      prefix = p
      v *= 1000
    }
  }
  return `${g4(v)}${prefix}`
}

function humanize1024(v: number): string {
  if (Math.abs(v) <= 1) return g4(v)
  let prefix = ''
  for (const p of ['ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei']) {
    if (Math.abs(v) < 1024) break
    prefix = p
    v /= 1024
  }
  return `${g4(v)}${prefix}`
}

function humanizeDuration(v: number): string {
  if (Math.abs(v) < 1) return v === 0 ? '0s' : `${g4(v * 1000)}ms`
  const s = Math.trunc(v)
  const [days, hours, minutes, seconds] = [
    Math.trunc(s / 86400),
    Math.trunc(s / 3600) % 24,
    Math.trunc(s / 60) % 60,
    s % 60,
  ]
  if (days !== 0) return `${days}d ${hours}h ${minutes}m ${seconds}s`
  if (hours !== 0) return `${hours}h ${minutes}m ${seconds}s`
  if (minutes !== 0) return `${minutes}m ${seconds}s`
  return `${g4(v)}s`
}

const functions: Record<string, (v: number) => string> = {
  humanize,
  humanize1024,
  humanizeDuration,
  humanizePercentage: (v) => `${g4(v * 100)}%`,
}

/** Renders {{ $labels.x }} and {{ $value | fn }} as Prometheus would for these labels and value. */
export function renderTemplate(text: string, labels: Record<string, string>, value: number): string {
  return text.replace(
    /\{\{\s*(\$labels\.(\w+)|\$value(\s*\|\s*(\w+))?)\s*\}\}/g,
    (_, _all, label, _pipe, fn) => {
      if (label) return labels[label] ?? ''
      if (!fn) return String(value)
      const f = functions[fn]
      if (!f) throw new Error(`template function ${fn} is not supported in tests`)
      return f(value)
    },
  )
}

/** The promtool tests of one group (prometheus/tests/<group>.test.yml), against its rules only:
 * promtool evaluates every rule of its files at every step, so one file per group keeps it fast. */
export function renderTests(group: AlertGroup): string {
  const tests = group.alerts.map((a) => {
    const labels = { ...a.test.labels, severity: a.severity }
    const expected = annotations(a)
    return {
      name: a.alert,
      interval: a.test.interval ?? '1m',
      input_series: [...a.test.fires, ...a.test.silent],
      alert_rule_test: [
        {
          eval_time: a.test.at ?? '30m',
          alertname: a.alert,
          exp_alerts: [
            {
              exp_labels: labels,
              exp_annotations: {
                summary: renderTemplate(expected.summary, labels, a.test.value),
                description: renderTemplate(expected.description, labels, a.test.value),
                runbook_url: expected.runbook_url,
              },
            },
          ],
        },
      ],
    }
  })
  // The evaluation step: the smallest series interval of the group (long backup tests step 5m).
  const step = group.alerts.some((a) => (a.test.interval ?? '1m') === '1m') ? '1m' : '5m'
  return (
    header(`promtool unit tests: promtool test rules prometheus/tests/${group.name}.test.yml`) +
    stringify(
      { rule_files: [`../rules/${group.name}.yml`], evaluation_interval: step, tests },
      { lineWidth: 0 },
    )
  )
}

/** Every generated file, by path from the repository root. */
export function renderedFiles(): [string, string][] {
  return [
    ...alertGroups.flatMap((g): [string, string][] => [
      [`prometheus/rules/${g.name}.yml`, renderRules(g)],
      [`prometheus/tests/${g.name}.test.yml`, renderTests(g)],
    ]),
    ['docs/ALERTS.md', renderAlertsDoc(alertGroups)],
  ]
}

export { renderAlertsDoc }
