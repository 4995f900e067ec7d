// docs/METRICS.md, rendered from the catalog so the reference cannot drift from the code
// (test/unit/metrics-doc.test.ts compares; `npm run docs:metrics` rewrites it).
import { allGroups } from './index.ts'

const intro = `# Metrics

Every metric group the collector knows, generated from \`src/collector/catalog\` (do not edit by
hand: run \`npm run docs:metrics\`). A group is one query per instance (or per database for
\`scope: database\`), stored raw in its own \`sn_*\` table under one \`sn_stat_snapshot\` row.

- **Column kinds**: \`key\` identifies a series, \`counter\` only grows (the read API and the
  comparison report give deltas and rates, null across a stats reset or a counter that went
  down), \`gauge\` is a point value, \`label\` and \`info\` describe the row.
- **SQL variants** are chosen by what the capability probe found in the instance's catalog (views,
  columns, the pg_stat_statements version), not by the version string, so forks work; every
  variant returns the same canonical columns.
- **Privileges**: every group works with a login that is a member of \`pg_monitor\`
  (\`GRANT pg_monitor TO pga_monitor\`); the notes say what is missing without it.
- **Intervals** are per instance (\`intervals\` on the instance, 0 turns a group off);
  **retention** per group (\`PGA_RETENTION_DAYS\`, \`PGA_RETENTION_DAYS_BY_GROUP\`).
- **Prometheus**: \`GET /metrics/instances\` exports numeric columns as
  \`pga_<group>_<column>\` (counters end in \`_total\`, times in ms become \`_seconds_total\`,
  timestamps \`_timestamp_seconds\`), labelled with \`instance\`, \`instance_id\` and the row's keys
  and labels; tables, indexes, statements, locks, xmin_horizon, table_ages, sequences,
  index_hygiene, functions, session_samples, table_bloat, index_bloat, bloat_approx and
  buffer_usage only when asked for (\`?groups=\`). Settings
  are not exported as such: a few numeric ones that alerts compare against are, as
  \`pga_setting{name}\` (sizes in bytes, times in seconds; \`src/metrics/prometheus-settings.ts\`).
- **Extensions**: bloat_approx needs pgstattuple, buffer_pool and buffer_usage pg_buffercache,
  created in the database the instance connects to, in any schema the login has USAGE on (the
  probe names a group that cannot run in the instance's \`limitations\`); session_samples reads pg_wait_sampling's profile where that is
  loaded and created, and otherwise samples pg_stat_activity itself.
- **Session sampling** is off by default: \`PGA_COLLECTOR_SESSION_SAMPLE_SECONDS\` (1-5) starts a
  sampler per instance (one short query per sample on a connection of its own, sums kept in
  memory up to 4 × the row limit of combinations) whose sums each session_samples snapshot stores.
  \`query_id\` equals \`statements.queryid\` (PostgreSQL 14+, \`compute_query_id\` on or auto
  with pg_stat_statements loaded).
- **Host groups** (\`system_*\`) are not collected over SQL: \`pganalytics agent\` reads them on the
  database host and pushes them (see [AGENT.md](AGENT.md)); their interval is the agent's.

| Group | Scope | Table | Default interval | Retention |
|---|---|---|---|---|
`

export function renderMetricsDoc(): string {
  const summary = allGroups
    .map(
      (g) =>
        `| [${g.name}](#${g.name}) | ${g.scope} | \`${g.table}\` | ${g.defaultIntervalSeconds} s | ${g.defaultRetentionDays} d |`,
    )
    .join('\n')
  const sections = allGroups.map((g) => {
    const columns = g.columns
      .map((c) => `| \`${c.name}\` | ${c.type} | ${c.kind} | ${c.unit ?? ''} | ${c.help} |`)
      .join('\n')
    const notes = [
      g.rowLimit
        ? `- At most ${g.rowLimit} rows per snapshot (the top of the rankings its description names).`
        : '',
      g.storage === 'changes' ? '- Stored only when a value changes (first snapshot: all of them).' : '',
      g.variants.some((v) => v.sampled)
        ? '- Off unless `PGA_COLLECTOR_SESSION_SAMPLE_SECONDS` is set, or the instance gives it an interval (needs pg_wait_sampling while sampling is off).'
        : '',
      g.columns.some((c) => c.summable)
        ? `- Amounts per snapshot (${g.columns
            .filter((c) => c.summable)
            .map((c) => `\`${c.name}\``)
            .join(', ')}): the comparison report also gives their sum over the window.`
        : '',
    ].filter(Boolean)
    return `## ${g.name}

${g.help}

- Scope: ${g.scope}; table \`${g.table}\`; every ${g.defaultIntervalSeconds} s; kept ${g.defaultRetentionDays} days.
- Privileges: ${g.privileges}
${notes.length > 0 ? `${notes.join('\n')}\n` : ''}${
  g.agentSource
    ? `- Source: pushed by \`pganalytics agent\` from ${g.agentSource}.`
    : `- Sources, first match wins:\n${g.variants.map((v) => `  - ${v.source}`).join('\n')}`
}

| Column | Type | Kind | Unit | Meaning |
|---|---|---|---|---|
${columns}
`
  })
  return `${intro}${summary}\n\n${sections.join('\n')}`
}
