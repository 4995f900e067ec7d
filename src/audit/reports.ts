// Compliance reports over a time range: which audit events serve which control, as JSON or CSV,
// each stating the verification of the range it covers. The selection rules are data, below.
import { BadRequestError } from '../http/errors.ts'
import type { Db } from '../platform/db/database.ts'
import type { CheckpointSink } from './checkpoint-sink.ts'
import { type AuditContext, recordAuditEvent } from './events.ts'
import { verifyTrail } from './verify.ts'

export const frameworks = ['gdpr', 'hipaa', 'sox', 'pci-dss'] as const
export type Framework = (typeof frameworks)[number]

/** A control and the SQL condition over audit_logs that selects its evidence (constants only). */
type Control = { id: string; description: string; where: string }

const privilegedResources = `('instance', 'data_key', 'signing_key', 'user', 'role', 'api_key', 'config', 'retention_policy')`

const controls: Record<Framework, Control[]> = {
  gdpr: [
    {
      id: 'Art. 15 access by the data subject',
      description: 'Every event by or about the person (actor, or the user resource).',
      where: `(actor_id = $3 or (resource_type = 'user' and resource_id = $3))`,
    },
  ],
  hipaa: [
    {
      id: '164.312(b) audit controls: access to sensitive data',
      description: 'Reads of query texts and of the audit trail, who read them and when.',
      where: `(action = 'read' and (event_type like 'metrics.%' or event_type like 'audit.%'))`,
    },
    {
      id: '164.308(a)(5) log-in monitoring',
      description: 'Sign-in successes and failures.',
      where: `event_type like 'auth.%'`,
    },
  ],
  sox: [
    {
      id: 'ITGC change management: privileged changes',
      description:
        'Creation, change and removal of instances, keys, users, roles, configuration and retention.',
      where: `(resource_type in ${privilegedResources} and action in ('create', 'update', 'delete', 'execute'))`,
    },
  ],
  'pci-dss': [
    {
      id: '10.2.1.2 actions by administrators',
      description: 'Everything done with administrative rights.',
      where: `(actor_type = 'admin_token' and action <> 'read')`,
    },
    {
      id: '10.2.1.3 access to audit logs',
      description: 'Every read and verification of the audit trail.',
      where: `event_type like 'audit.%'`,
    },
    {
      id: '10.2.1.4 invalid logical access attempts',
      description: 'Failed sign-ins and refused actions.',
      where: `(outcome = 'failure' and event_type like 'auth.%')`,
    },
    {
      id: '10.2.1.5 changes to identification and authentication',
      description: 'Users, roles, API keys, credentials and key material.',
      where: `resource_type in ('user', 'role', 'api_key', 'data_key', 'signing_key')`,
    },
    {
      id: '10.2.1.7 creation and deletion of system-level objects',
      description: 'Monitored instances and keys created or removed.',
      where: `(action in ('create', 'delete') and resource_type in ${privilegedResources})`,
    },
  ],
}

export type ReportQuery = { from: string; to: string; userId?: string | undefined }

type ReportEvent = Record<string, unknown> & { id: number }

/** Builds a report; records that it was produced (reports read the trail). */
export async function complianceReport(
  db: Db,
  audit: AuditContext,
  framework: Framework,
  query: ReportQuery,
  sink?: CheckpointSink | null,
) {
  if (framework === 'gdpr' && !query.userId)
    throw new BadRequestError('user_required', 'A GDPR report is about one person: pass userId.', [
      { path: 'query.userId', message: 'required for gdpr' },
    ])
  const sections = []
  for (const control of controls[framework]) {
    const events = await db.unsafe<ReportEvent[]>(
      `select id::float8, event_id as "eventId", event_type as "eventType", resource_type as "resourceType",
              resource_id as "resourceId", action, outcome, actor_type as "actorType", actor_id as "actorId",
              ip_address as "ipAddress", request_id as "requestId", created_at as "createdAt", changes
         from audit_logs
        where created_at >= $1 and created_at <= $2 and ${control.where}
        order by audit_logs.id`,
      control.where.includes('$3') ? [query.from, query.to, query.userId ?? null] : [query.from, query.to],
    )
    sections.push({ control: control.id, description: control.description, count: events.length, events })
  }
  const [bounds] = await db<{ first: number | null; last: number | null }[]>`
    select min(id)::float8 as first, max(id)::float8 as last from audit_logs where created_at >= ${query.from} and created_at <= ${query.to}`
  const verification =
    bounds?.first && bounds.last
      ? await verifyTrail(db, { fromId: bounds.first, toId: bounds.last }, await sink?.latest())
      : {
          valid: true,
          checkedEntries: 0,
          checkedCheckpoints: 0,
          firstEntry: null,
          lastEntry: null,
          archivedThrough: 0,
          problem: null,
        }
  await recordAuditEvent(db, audit, {
    eventType: 'audit.report_generated',
    resourceType: 'audit_log',
    action: 'read',
    changes: { framework, ...query, valid: verification.valid },
  })
  return { framework, ...query, generatedAt: new Date().toISOString(), verification, sections }
}

const csvCell = (value: unknown) => {
  const text =
    value === null || value === undefined
      ? ''
      : value instanceof Date
        ? value.toISOString()
        : typeof value === 'object'
          ? JSON.stringify(value)
          : String(value)
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text
}

/** One row per event and control; the first lines state the range and its verification. */
export function reportCsv(report: Awaited<ReturnType<typeof complianceReport>>): string {
  const columns = [
    'control',
    'id',
    'createdAt',
    'eventType',
    'action',
    'outcome',
    'actorType',
    'actorId',
    'resourceType',
    'resourceId',
    'ipAddress',
    'requestId',
  ]
  const lines = [
    `# framework=${report.framework} from=${report.from} to=${report.to} verified=${report.verification.valid}${report.verification.problem ? ` problem=${csvCell(report.verification.problem.reason)}` : ''}`,
    columns.join(','),
    ...report.sections.flatMap((section) =>
      section.events.map((event) =>
        [section.control, ...columns.slice(1).map((c) => event[c])].map(csvCell).join(','),
      ),
    ),
  ]
  return `${lines.join('\r\n')}\r\n`
}
