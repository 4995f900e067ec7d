// User functions with track_functions on (pl or all): calls and time, with and without the
// functions they call. Per database, the busiest first.
import { counter, key } from './columns.ts'
import type { MetricGroup } from './types.ts'

export const functions: MetricGroup = {
  name: 'functions',
  scope: 'database',
  table: 'sn_stat_user_functions',
  help: 'User functions of each database (needs track_functions = pl or all): calls, total time and time in the function itself (busiest first).',
  defaultIntervalSeconds: 300,
  defaultRetentionDays: 30,
  rowLimit: 500,
  privileges: 'None beyond connecting to each database (CONNECT); empty while track_functions is none.',
  columns: [
    key('datname', 'text', 'Database.'),
    key('schemaname', 'text', 'Schema.'),
    key('funcname', 'text', 'Function with its argument types (overloads are separate series).'),
    counter('calls', 'Calls.'),
    counter('total_time', 'Time in the function and everything it called.', 'ms'),
    counter('self_time', 'Time in the function itself.', 'ms'),
  ],
  variants: [
    {
      when: () => true,
      source: 'pg_stat_user_functions',
      sql: `select current_database()::text as datname, f.schemaname::text,
                   f.funcname || '(' || pg_get_function_identity_arguments(f.funcid) || ')' as funcname,
                   f.calls, f.total_time, f.self_time
              from pg_stat_user_functions f
             order by f.total_time desc, f.funcid
             limit $1`,
    },
  ],
}
