// The two data sources of the dashboards, by the uids grafana/provisioning gives them, and the
// query types: the SDK ships Prometheus queries; Grafana's built-in PostgreSQL data source has no
// builder in it, so its query (SQLQuery in grafana-sql: rawSql, format, editorMode) is defined
// here as a cog Dataquery variant, the SDK's documented way to add a query type.
import type { Builder, Dataquery } from '@grafana/grafana-foundation-sdk/cog'
import type { DataSourceRef } from '@grafana/grafana-foundation-sdk/dashboard'
import {
  DataqueryBuilder as PrometheusQueryBuilder,
  PromQueryFormat,
} from '@grafana/grafana-foundation-sdk/prometheus'

export const storeDatasource: DataSourceRef = {
  type: 'grafana-postgresql-datasource',
  uid: 'pganalytics-store',
}
export const prometheusDatasource: DataSourceRef = { type: 'prometheus', uid: 'pganalytics-prometheus' }

export type SqlFormat = 'time_series' | 'table'

export interface SqlQuery {
  refId?: string
  hide?: boolean
  datasource?: DataSourceRef
  rawSql: string
  format: SqlFormat
  rawQuery: true
  editorMode: 'code'
  _implementsDataqueryVariant(): void
}

export class SqlQueryBuilder implements Builder<Dataquery> {
  private readonly internal: SqlQuery

  constructor(rawSql: string, format: SqlFormat) {
    this.internal = {
      datasource: storeDatasource,
      rawSql: rawSql.trim(),
      format,
      rawQuery: true,
      editorMode: 'code',
      _implementsDataqueryVariant() {},
    }
  }

  refId(refId: string): this {
    this.internal.refId = refId
    return this
  }

  build(): SqlQuery {
    return this.internal
  }
}

/** A PromQL query of the Prometheus data source (the SDK's builder). */
export function promQuery(
  expr: string,
  options: { instant?: boolean; legend?: string; refId?: string } = {},
) {
  const query = new PrometheusQueryBuilder()
    .expr(expr)
    .datasource(prometheusDatasource)
    .refId(options.refId ?? 'A')
  if (options.legend) query.legendFormat(options.legend)
  if (options.instant) query.instant().format(PromQueryFormat.Table)
  return query
}
