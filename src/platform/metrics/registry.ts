// A small Prometheus registry: counters, gauges (set or collected at scrape time) and
// histograms with labels, rendered in the text exposition format 0.0.4. Kept in-house so it
// behaves the same under Bun and Node and has no process-global default registry.
type Labels = Record<string, string>
type Sample = { labels: Labels; value: number }

interface Metric {
  readonly name: string
  render(): Promise<string[]> | string[]
}

const escapeLabel = (value: string) => value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
/** `{a="1",b="2"}` with values escaped as the text format requires ("" for no labels). */
export const formatLabels = (labels: Labels) => {
  const entries = Object.entries(labels)
  return entries.length === 0 ? '' : `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`
}
const formatValue = (value: number) =>
  Number.isNaN(value)
    ? 'NaN'
    : value === Number.POSITIVE_INFINITY
      ? '+Inf'
      : value === Number.NEGATIVE_INFINITY
        ? '-Inf'
        : String(value)
/** One key per label set, whatever the order of its names. Built on every observation (once per
 * request for the HTTP histogram), so without the arrays and nested JSON of entries().sort(). */
const keyOf = (labels: Labels) => {
  const names = Object.keys(labels)
  if (names.length > 1) names.sort()
  let key = ''
  for (const name of names) key += `${name}=${JSON.stringify(labels[name])},`
  return key
}
const header = (name: string, help: string, type: string) => [
  `# HELP ${name} ${help.replace(/\n/g, ' ')}`,
  `# TYPE ${name} ${type}`,
]

export class Counter implements Metric {
  private readonly values = new Map<string, Sample>()
  constructor(
    readonly name: string,
    private readonly help: string,
    /** Called at scrape time for a count kept elsewhere; its samples replace any from inc(). */
    private readonly collect?: () => Sample[],
  ) {}
  inc(labels: Labels = {}, by = 1) {
    const key = keyOf(labels)
    const sample = this.values.get(key)
    if (sample) sample.value += by
    else this.values.set(key, { labels, value: by })
  }
  render() {
    return [
      ...header(this.name, this.help, 'counter'),
      ...(this.collect ? this.collect() : [...this.values.values()]).map(
        (s) => `${this.name}${formatLabels(s.labels)} ${formatValue(s.value)}`,
      ),
    ]
  }
}

export class Gauge implements Metric {
  private readonly values = new Map<string, Sample>()
  constructor(
    readonly name: string,
    private readonly help: string,
    /** Called at scrape time; its samples replace any set with set()/inc(). */
    private readonly collect?: () => Promise<Sample[]> | Sample[],
  ) {}
  set(value: number, labels: Labels = {}) {
    this.values.set(keyOf(labels), { labels, value })
  }
  inc(labels: Labels = {}, by = 1) {
    const sample = this.values.get(keyOf(labels))
    this.set((sample?.value ?? 0) + by, labels)
  }
  dec(labels: Labels = {}, by = 1) {
    this.inc(labels, -by)
  }
  async render() {
    const samples = this.collect ? await this.collect() : [...this.values.values()]
    return [
      ...header(this.name, this.help, 'gauge'),
      ...samples.map((s) => `${this.name}${formatLabels(s.labels)} ${formatValue(s.value)}`),
    ]
  }
}

export class Histogram implements Metric {
  private readonly series = new Map<
    string,
    { labels: Labels; counts: number[]; sum: number; count: number }
  >()
  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly buckets: number[],
  ) {}
  observe(value: number, labels: Labels = {}) {
    this.record(value, keyOf(labels), () => labels)
  }
  /** For a caller on a hot path that always passes the same label names: `key` identifies the
   * label values (any string the caller builds cheaply) and `labels` is called for a new series
   * only. Keys from `observe` start with a label name and `=`, so the two cannot collide. */
  observeKeyed(value: number, key: string, labels: () => Labels) {
    this.record(value, `#${key}`, labels)
  }
  private record(value: number, key: string, labels: () => Labels) {
    let entry = this.series.get(key)
    if (!entry) {
      entry = { labels: labels(), counts: this.buckets.map(() => 0), sum: 0, count: 0 }
      this.series.set(key, entry)
    }
    for (let i = 0; i < this.buckets.length; i++)
      if (value <= (this.buckets[i] as number)) (entry.counts[i] as number)++
    entry.sum += value
    entry.count++
  }
  render() {
    const lines = header(this.name, this.help, 'histogram')
    for (const { labels, counts, sum, count } of this.series.values()) {
      this.buckets.forEach((bound, i) => {
        lines.push(`${this.name}_bucket${formatLabels({ ...labels, le: formatValue(bound) })} ${counts[i]}`)
      })
      lines.push(`${this.name}_bucket${formatLabels({ ...labels, le: '+Inf' })} ${count}`)
      lines.push(`${this.name}_sum${formatLabels(labels)} ${formatValue(sum)}`)
      lines.push(`${this.name}_count${formatLabels(labels)} ${count}`)
    }
    return lines
  }
}

export class MetricsRegistry {
  private readonly metrics = new Map<string, Metric>()
  private register<T extends Metric>(metric: T): T {
    if (this.metrics.has(metric.name)) throw new Error(`metric ${metric.name} registered twice`)
    this.metrics.set(metric.name, metric)
    return metric
  }
  counter(name: string, help: string, collect?: () => Sample[]) {
    return this.register(new Counter(name, help, collect))
  }
  gauge(name: string, help: string, collect?: () => Promise<Sample[]> | Sample[]) {
    return this.register(new Gauge(name, help, collect))
  }
  histogram(name: string, help: string, buckets: number[]) {
    return this.register(new Histogram(name, help, buckets))
  }
  /** The whole registry in Prometheus text format, ending with a newline. */
  async render(): Promise<string> {
    const blocks = await Promise.all([...this.metrics.values()].map((m) => m.render()))
    return `${blocks.flat().join('\n')}\n`
  }
}

export const prometheusContentType = 'text/plain; version=0.0.4; charset=utf-8'
