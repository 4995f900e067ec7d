// What Grafana does to a PostgreSQL panel query before the database sees it, so the dashboard
// tests run the very SQL Grafana would. Three steps, as in Grafana 10-12:
// 1. The browser (templateSrv.replace with the SQL data source's interpolateVariable): `$var` and
//    `${var}` become the variable's value: a single value raw (quotes doubled), a multi-value or
//    include-all variable a comma-separated list of quoted literals; `$__interval`,
//    `$__interval_ms`, `$__from`, `$__to` become the panel's interval and range.
// 2. The backend's global substitution (sqleng Interpolate): `$__interval`, `$__interval_ms`,
//    `$__unixEpochFrom()`, `$__unixEpochTo()`.
// 3. The PostgreSQL macro engine: `$__time`, `$__timeEpoch`, `$__timeFilter`, `$__timeFrom`,
//    `$__timeTo`, `$__timeGroup` (and its quirk: followed directly by a comma it becomes
//    `$__timeGroupAlias`), `$__timeGroupAlias`, `$__unixEpochFilter`, `$__unixEpochGroup(Alias)`.
// The interval is Grafana's calculateInterval: range / max data points (1000 here, about a full
// width panel), rounded to a "nice" interval, never below the panel's min interval or the data
// source's (15s, as provisioned).
export type VariableValue = { value: string | string[]; multi: boolean; includeAll: boolean }

export type GrafanaRequest = {
  from: Date
  to: Date
  /** The panel's min interval (e.g. '1m'), else the data source's timeInterval. */
  minInterval?: string
  maxDataPoints?: number
  variables: Record<string, VariableValue>
}

const niceIntervals = [
  10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 15_000, 20_000, 30_000, 60_000, 120_000, 300_000,
  600_000, 900_000, 1_200_000, 1_800_000, 3_600_000, 7_200_000, 10_800_000, 21_600_000, 43_200_000,
  86_400_000,
]

/** "15s", "1m", "500ms", "1h", "1d" into milliseconds (Grafana's interval syntax). */
export function parseInterval(text: string): number {
  const match = /^(\d+)(ms|s|m|h|d|w|y)$/.exec(text.trim())
  if (!match) throw new Error(`not an interval: ${text}`)
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, y: 31_536_000_000 }
  return Number(match[1]) * unit[match[2] as keyof typeof unit]
}

/** Grafana's secondsToHms: the largest whole unit. */
export function formatInterval(ms: number): string {
  if (ms < 1000) return `${ms}ms`
  const s = Math.floor(ms / 1000)
  for (const [unit, size] of [
    ['y', 31_536_000],
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
  ] as const)
    if (s >= size) return `${Math.floor(s / size)}${unit}`
  return `${s}s`
}

export function intervalMs(request: GrafanaRequest): number {
  const raw = (request.to.getTime() - request.from.getTime()) / (request.maxDataPoints ?? 1000)
  const rounded = niceIntervals.find((n) => n >= raw) ?? 86_400_000
  return Math.max(rounded, parseInterval(request.minInterval ?? '15s'))
}

const quoteLiteral = (value: string) => `'${value.replaceAll("'", "''")}'`

/** Step 1: the browser's variable interpolation. */
function replaceVariables(sql: string, request: GrafanaRequest): string {
  const interval = intervalMs(request)
  const builtIn: Record<string, string> = {
    __interval: formatInterval(interval),
    __interval_ms: String(interval),
    __from: String(request.from.getTime()),
    __to: String(request.to.getTime()),
  }
  return sql.replace(
    /\$(\w+)|\$\{(\w+)\}/g,
    (whole, plain: string | undefined, braced: string | undefined) => {
      const name = (plain ?? braced) as string
      if (name in builtIn) return builtIn[name] as string
      const variable = request.variables[name]
      if (!variable) return whole
      if (Array.isArray(variable.value)) return variable.value.map(quoteLiteral).join(',')
      return variable.multi || variable.includeAll
        ? quoteLiteral(variable.value)
        : variable.value.replaceAll("'", "''")
    },
  )
}

const rfc3339 = (d: Date) => d.toISOString().replace('.000Z', 'Z')

/** Steps 2 and 3: the backend's global substitutions and the PostgreSQL macros. */
function expandMacros(sql: string, request: GrafanaRequest): string {
  const from = request.from
  const to = request.to
  const interval = intervalMs(request)
  let text = sql
    .replaceAll('$__interval_ms', String(interval))
    .replaceAll('$__interval', formatInterval(interval))
    .replaceAll('$__unixEpochFrom()', String(Math.floor(from.getTime() / 1000)))
    .replaceAll('$__unixEpochTo()', String(Math.floor(to.getTime() / 1000)))
  const original = text
  text = text.replace(/\$([_a-zA-Z0-9]+)\(([^)]*)\)/g, (whole, name: string, argText: string) => {
    const args = argText.split(',').map((a) => a.trim())
    let macro = name
    if (macro === '__timeGroup') {
      const at = original.indexOf(whole)
      if (at >= 0 && original[at + whole.length] === ',') macro = '__timeGroupAlias'
    }
    return evaluateMacro(macro, args, from, to)
  })
  return text
}

function timeGroup(args: string[]): string {
  if (args.length < 2) throw new Error('$__timeGroup needs a column and an interval')
  const seconds = parseInterval((args[1] as string).replaceAll("'", '')) / 1000
  return `floor(extract(epoch from ${args[0]})/${seconds})*${seconds}`
}

function evaluateMacro(name: string, args: string[], from: Date, to: Date): string {
  const [column] = args
  switch (name) {
    case '__time':
      return `${column} AS "time"`
    case '__timeEpoch':
      return `extract(epoch from ${column}) as "time"`
    case '__timeFilter':
      return `${column} BETWEEN '${rfc3339(from)}' AND '${rfc3339(to)}'`
    case '__timeFrom':
      return `'${rfc3339(from)}'`
    case '__timeTo':
      return `'${rfc3339(to)}'`
    case '__timeGroup':
      return timeGroup(args)
    case '__timeGroupAlias':
      return `${timeGroup(args)} AS "time"`
    case '__unixEpochFilter':
      return `${column} >= ${Math.floor(from.getTime() / 1000)} AND ${column} <= ${Math.floor(to.getTime() / 1000)}`
    default:
      throw new Error(`unknown macro $${name}`)
  }
}

/** The SQL Grafana would send to PostgreSQL for this panel query. */
export function grafanaSql(sql: string, request: GrafanaRequest): string {
  return expandMacros(replaceVariables(sql, request), request)
}
