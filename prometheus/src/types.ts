// An alert as data: its rule (expression, duration, severity, annotations), what docs/ALERTS.md
// says about it (cause and runbook), and its unit test: input series for an instance that must
// fire and for one that must stay silent, the labels and the value the firing alert has.
// prometheus/src/render.ts turns the list into the rules file, the promtool tests and the doc.
export type Severity = 'critical' | 'warning' | 'info'

export type Series = { series: string; values: string }

export type AlertTest = {
  /** Input series of the instance (or replica, device...) that must fire. */
  fires: Series[]
  /** Input series of one that must not. */
  silent: Series[]
  /** Evaluation time (default 30m) and the series' step (default 1m). */
  at?: string
  interval?: string
  /** Labels of the firing alert, besides severity. */
  labels: Record<string, string>
  /** The expression's value then, for {{ $value }} in the annotations. */
  value: number
}

export type AlertDefinition = {
  alert: string
  expr: string
  for?: string
  severity: Severity
  /** Annotation templates: {{ $labels.x }} and {{ $value | humanize... }}. */
  summary: string
  description: string
  /** For docs/ALERTS.md: why it fires, and what to do. */
  cause: string
  runbook: string[]
  test: AlertTest
}

export type AlertGroup = {
  /** Rule group name in the rules file. */
  name: string
  title: string
  /** Said once above the group's alerts in docs/ALERTS.md. */
  intro: string
  alerts: AlertDefinition[]
}

/** `name{a="x",b="y"}` for a test series. */
export function series(name: string, labels: Record<string, string>, values: string): Series {
  const text = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(',')
  return { series: `${name}{${text}}`, values }
}

/** The two monitored instances of every test: one that must fire, one that must not. */
export const bad = { instance: 'db-bad', instance_id: 'b' }
export const good = { instance: 'db-good', instance_id: 'g' }
/** Two replicas of the service, as Prometheus labels their targets. */
export const replicaA = { job: 'pganalytics-service', instance: 'pga-1:8080' }
export const replicaB = { job: 'pganalytics-service', instance: 'pga-2:8080' }
