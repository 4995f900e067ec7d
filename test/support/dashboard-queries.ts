// Runs a generated dashboard's queries as Grafana would: its template variables first, in order
// (each query interpolated with the variables before it; a multi-value variable takes "All", a
// single-value one its first option unless given), then every panel's SQL with Grafana's
// substitutions (grafana-sql.ts), over a connection logged in as the read-only Grafana role.
import type { Dashboard, Panel, RowPanel, VariableModel } from '@grafana/grafana-foundation-sdk/dashboard'
import type postgres from 'postgres'
import { type GrafanaRequest, grafanaSql, type VariableValue } from './grafana-sql.ts'

type Target = { rawSql?: string; expr?: string; format?: string; datasource?: { type?: string } }

export type PanelQuery = {
  panel: string
  kind: 'sql' | 'promql'
  text: string
  format: string
  minInterval?: string
}

const isRow = (p: Panel | RowPanel): p is RowPanel => p.type === 'row'

/** Every query of every panel (rows hold none). */
export function panelQueries(dashboard: Dashboard): PanelQuery[] {
  return (dashboard.panels ?? [])
    .filter((p) => !isRow(p))
    .flatMap((panel) =>
      ((panel as Panel).targets ?? []).map((target) => {
        const t = target as unknown as Target
        return {
          panel: (panel as Panel).title ?? '',
          kind: t.rawSql !== undefined ? ('sql' as const) : ('promql' as const),
          text: t.rawSql ?? t.expr ?? '',
          format: t.format ?? 'time_series',
          ...((panel as Panel).interval ? { minInterval: (panel as Panel).interval } : {}),
        }
      }),
    )
}

export const variablesOf = (dashboard: Dashboard): VariableModel[] => dashboard.templating.list ?? []

/** Resolves the dashboard's variables for a range; `fixed` pins some (e.g. the instance). Returns
 * the values and, per variable, the rows its query gave. */
export async function resolveVariables(
  db: postgres.Sql,
  dashboard: Dashboard,
  request: Omit<GrafanaRequest, 'variables'>,
  fixed: Record<string, string> = {},
): Promise<{ values: Record<string, VariableValue>; options: Record<string, string[]> }> {
  const values: Record<string, VariableValue> = {}
  const options: Record<string, string[]> = {}
  for (const variable of variablesOf(dashboard)) {
    const sql = grafanaSql(String(variable.query ?? ''), { ...request, variables: values })
    const rows = await db.unsafe<Record<string, unknown>[]>(sql)
    const found = rows.map((r) => String(r.__value ?? Object.values(r)[0]))
    options[variable.name] = found
    const multi = variable.multi === true
    const includeAll = variable.includeAll === true
    const pinned = fixed[variable.name]
    values[variable.name] = {
      value: pinned ?? (multi || includeAll ? found : (found[0] ?? '')),
      multi,
      includeAll,
    }
  }
  return { values, options }
}

/** Runs one panel's SQL; returns its rows and the PostgreSQL type of each column. */
export async function runSqlPanel(
  db: postgres.Sql,
  query: PanelQuery,
  request: GrafanaRequest,
): Promise<{ rows: Record<string, unknown>[]; columns: { name: string; type: number }[]; sql: string }> {
  const sql = grafanaSql(query.text, {
    ...request,
    ...(query.minInterval ? { minInterval: query.minInterval } : {}),
  })
  const result = await db.unsafe<Record<string, unknown>[]>(sql)
  return { rows: [...result], columns: result.columns.map((c) => ({ name: c.name, type: c.type })), sql }
}

/** PostgreSQL type oids Grafana reads as numbers. */
export const numericTypes = new Set([20, 21, 23, 700, 701, 1700])
