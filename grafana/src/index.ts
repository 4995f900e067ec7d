// Every generated dashboard, in the order docs/DASHBOARDS.md lists them. `npm run dashboards`
// writes each to grafana/dashboards/<file> and the doc; test/integration/dashboards.test.ts checks the
// committed files against this (drift) and runs every query against a populated store.
import type { DashboardDefinition } from './board.ts'
import { activityLocks } from './dashboards/activity-locks.ts'
import { backups } from './dashboards/backups.ts'
import { checkpointRecovery } from './dashboards/checkpoint-recovery.ts'
import { fleetOverview } from './dashboards/fleet-overview.ts'
import { hostSystem } from './dashboards/host-system.ts'
import { instanceOverview } from './dashboards/instance-overview.ts'
import { queryPerformance } from './dashboards/query-performance.ts'
import { replicationMonitoring } from './dashboards/replication-monitoring.ts'
import { tablesIndexes } from './dashboards/tables-indexes.ts'
import { walArchiver } from './dashboards/wal-archiver.ts'
import { renderDashboardsDoc } from './docs.ts'

export const dashboards: readonly DashboardDefinition[] = [
  fleetOverview,
  instanceOverview,
  queryPerformance,
  tablesIndexes,
  checkpointRecovery,
  walArchiver,
  replicationMonitoring,
  activityLocks,
  hostSystem,
  backups,
]

/** The JSON text of a dashboard as committed (stable key order, two-space indent). */
export function dashboardJson(definition: DashboardDefinition): string {
  return `${JSON.stringify(definition.build().build(), null, 2)}\n`
}

/** docs/DASHBOARDS.md, generated with the dashboards. */
export const dashboardsDoc = () => renderDashboardsDoc(dashboards)
