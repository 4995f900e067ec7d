// Template variables of the dashboards, all queried from the store. `instance` is single-valued
// (its value the instance id, its text the name): Grafana puts it into SQL raw, inside quotes we
// write. The multi-valued ones (`database`, `relation`) become a list of quoted literals, used as
// `in ($database)`; "All" is every value, quoted.
import {
  QueryVariableBuilder,
  VariableRefresh,
  VariableSort,
} from '@grafana/grafana-foundation-sdk/dashboard'
import { storeDatasource } from './datasources.ts'

function sqlVariable(name: string, label: string, sql: string) {
  return new QueryVariableBuilder(name).label(label).datasource(storeDatasource).query(sql).definition(sql)
}

export const instanceVariable = () =>
  sqlVariable(
    'instance',
    'Instance',
    'select name as __text, id::text as __value from pga_instances where enabled order by name',
  )
    .refresh(VariableRefresh.OnDashboardLoad)
    .sort(VariableSort.AlphabeticalAsc)

/** Databases of the selected instance seen in the range (from the database group). */
export const databaseVariable = () =>
  sqlVariable(
    'database',
    'Database',
    `select distinct datname as __text, datname as __value from sn_stat_database
      where instance_id = '$instance' and $__timeFilter(taken_at) order by 1`,
  )
    .refresh(VariableRefresh.OnTimeRangeChanged)
    .multi(true)
    .includeAll(true)
    .current({ text: 'All', value: '$__all' })

/** The largest tables of the selected databases in the range, as schema.table. */
export const relationVariable = () =>
  sqlVariable(
    'relation',
    'Table',
    `select schemaname || '.' || relname as __text, schemaname || '.' || relname as __value
       from sn_stat_tables
      where instance_id = '$instance' and $__timeFilter(taken_at) and datname in ($database)
      group by schemaname, relname order by max(total_bytes) desc limit 200`,
  )
    .refresh(VariableRefresh.OnTimeRangeChanged)
    .multi(true)
    .includeAll(true)
    .current({ text: 'All', value: '$__all' })

/** Statements of the selected instance and databases, busiest in the range first. */
export const statementVariable = () =>
  sqlVariable(
    'queryid',
    'Statement',
    `select left(regexp_replace(coalesce(pga_statement_text('$instance', queryid), queryid::text), '\\s+', ' ', 'g'), 80) as __text,
            queryid::text as __value
       from sn_stat_statements
      where instance_id = '$instance' and $__timeFilter(taken_at) and datname in ($database)
      group by queryid order by max(total_exec_time) - min(total_exec_time) desc limit 50`,
  ).refresh(VariableRefresh.OnTimeRangeChanged)
