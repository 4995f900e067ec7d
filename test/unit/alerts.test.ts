// The alert rules: the committed rules, tests and docs/ALERTS.md are what prometheus/src generates;
// `promtool check rules` is clean and `promtool test rules` passes (each alert fires on the db-bad
// series and stays silent on the db-good ones, with exact labels and annotations); every alert has
// a severity, summary, description and a runbook_url whose anchor docs/ALERTS.md has; the areas
// the issue names each have their alert.
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { alertGroups, allAlerts, renderedFiles } from '../../prometheus/src/render.ts'

const root = join(import.meta.dirname, '..', '..')
const read = (path: string) => readFileSync(join(root, path), 'utf8')
const promtool = (...args: string[]) =>
  spawnSync('promtool', args, { cwd: join(root, 'prometheus'), encoding: 'utf8' })

describe('prometheus/rules', () => {
  it('are exactly what prometheus/src generates (npm run alerts)', () => {
    for (const [path, text] of renderedFiles()) expect(read(path), path).toBe(text)
    const rules = readdirSync(join(root, 'prometheus', 'rules')).sort()
    expect(rules).toEqual(alertGroups.map((g) => `${g.name}.yml`).sort())
  })

  it('pass promtool check rules', () => {
    const check = promtool('check', 'rules', ...alertGroups.map((g) => `rules/${g.name}.yml`))
    expect(`${check.stdout}${check.stderr}`).not.toMatch(/FAILED/)
    expect(check.status).toBe(0)
  })

  it('pass their promtool unit tests', { timeout: 120_000 }, () => {
    const test = promtool('test', 'rules', ...alertGroups.map((g) => `tests/${g.name}.test.yml`))
    expect(`${test.stdout}${test.stderr}`).not.toMatch(/FAILED/)
    expect(test.status).toBe(0)
  })

  it('each fire on one series and are tested against a silent one of the same metrics', () => {
    const alerts = allAlerts()
    expect(alerts.length).toBeGreaterThanOrEqual(40)
    const names = (series: { series: string }[]) => new Set(series.map((s) => s.series.split('{')[0]))
    for (const a of alerts) {
      expect(a.test.fires.length, a.alert).toBeGreaterThan(0)
      for (const metric of names(a.test.fires)) expect(names(a.test.silent), a.alert).toContain(metric)
    }
  })

  it('carry severity, summary, description and a runbook in docs/ALERTS.md', () => {
    type RulesFile = {
      groups: {
        rules: { alert: string; labels: { severity: string }; annotations: Record<string, string> }[]
      }[]
    }
    const rules = {
      groups: alertGroups.flatMap((g) => (parse(read(`prometheus/rules/${g.name}.yml`)) as RulesFile).groups),
    }
    const doc = read('docs/ALERTS.md')
    const anchors = new Set([...doc.matchAll(/^### (\w+)$/gm)].map((m) => (m[1] as string).toLowerCase()))
    const all = rules.groups.flatMap((g) => g.rules)
    expect(new Set(all.map((r) => r.alert)).size).toBe(all.length)
    for (const rule of all) {
      expect(['critical', 'warning', 'info'], rule.alert).toContain(rule.labels.severity)
      expect(rule.annotations.summary, rule.alert).toBeTruthy()
      expect(rule.annotations.description, rule.alert).toBeTruthy()
      const anchor = rule.annotations.runbook_url?.split('#')[1] ?? ''
      expect(rule.annotations.runbook_url, rule.alert).toMatch(/\/docs\/ALERTS\.md#/)
      expect(anchors.has(anchor), `${rule.alert}: ALERTS.md#${anchor}`).toBe(true)
    }
  })

  it('cover every area the issue names', () => {
    const names = new Set(allAlerts().map((a) => a.alert))
    const areas: Record<string, string[]> = {
      'instance down / collection failing': [
        'PostgreSQLInstanceDown',
        'PostgreSQLCollectionStale',
        'PgaCollectorFailing',
      ],
      'replication lag (bytes and seconds)': [
        'PostgreSQLReplicationLagBytes',
        'PostgreSQLReplicationLagSeconds',
      ],
      'slot retained WAL and inactive slots': [
        'PostgreSQLReplicationSlotRetainingWal',
        'PostgreSQLReplicationSlotInactive',
      ],
      'archive failures and archiver backlog': ['PostgreSQLArchiveFailing', 'PostgreSQLArchiveBacklog'],
      'transaction ID and multixact wraparound': [
        'PostgreSQLXidWraparoundWarning',
        'PostgreSQLMultixactWraparoundWarning',
      ],
      'checkpoint pressure': ['PostgreSQLCheckpointsRequested'],
      'cache hit ratio': ['PostgreSQLCacheHitRatioLow'],
      'connection saturation': ['PostgreSQLConnectionsHigh', 'PostgreSQLConnectionsExhausted'],
      'long transactions and idle in transaction': [
        'PostgreSQLLongTransaction',
        'PostgreSQLIdleInTransaction',
      ],
      'blocked sessions and deadlocks': ['PostgreSQLSessionsWaitingOnLocks', 'PostgreSQLDeadlocks'],
      'temp file spikes': ['PostgreSQLTempFilesSpike'],
      'dead tuples and autovacuum behind': ['PostgreSQLTableDeadRowsHigh', 'PostgreSQLAutovacuumNotRunning'],
      'disk and filesystem space (agent)': ['HostFilesystemSpaceLow', 'PostgreSQLVolumeLow'],
      'backup age and failures': ['PostgreSQLBackupTooOld', 'PostgreSQLBackupFailing'],
      'audit sealer lag': ['PgaAuditSealerLagging'],
    }
    for (const [area, alerts] of Object.entries(areas))
      for (const a of alerts) expect(names, area).toContain(a)
  })
})
