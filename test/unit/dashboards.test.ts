// The committed dashboards and their provisioning: the JSON is exactly what grafana/src generates
// (drift), it uses the SDK's schema version, and every key of a dashboard, panel, option, field
// config, variable and query is one the SDK's types declare for it (Grafana itself cannot be
// installed here, so the SDK's types stand in for its schema); ids, titles and grid positions are
// sound; every variable a query uses is defined before it; every data source is provisioned.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Dashboard, Panel, RowPanel } from '@grafana/grafana-foundation-sdk/dashboard'
import { defaultDashboard } from '@grafana/grafana-foundation-sdk/dashboard'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { dashboardJson, dashboards, dashboardsDoc } from '../../grafana/src/index.ts'

const root = join(import.meta.dirname, '..', '..')
const sdk = join(root, 'node_modules', '@grafana', 'grafana-foundation-sdk', 'dist')
const committed = (file: string) => readFileSync(join(root, 'grafana', 'dashboards', file), 'utf8')
const parsed = dashboards.map((d) => ({ file: d.file, json: JSON.parse(committed(d.file)) as Dashboard }))

/** Property names of an interface in the SDK's declarations (following `type X = common.Y`). */
function sdkKeys(module: string, name: string): Set<string> {
  const text = readFileSync(join(sdk, module, 'types.gen.d.ts'), 'utf8')
  const alias = new RegExp(`export type ${name} = common\\.(\\w+);`).exec(text)
  if (alias) return sdkKeys('common', alias[1] as string)
  const start = text.indexOf(`export interface ${name} `)
  if (start < 0) throw new Error(`${module}.${name} not in the SDK`)
  const header = text.slice(start, text.indexOf('{', start))
  const keys = new Set<string>()
  for (const parent of header.match(/common\.(\w+)/g) ?? [])
    for (const k of sdkKeys('common', parent.slice('common.'.length))) keys.add(k)
  const body = text.slice(text.indexOf('{', start) + 1, text.indexOf('\n}', start))
  for (const m of body.matchAll(/^ {4}(\w+)\??:/gm)) keys.add(m[1] as string)
  return keys
}

const extra = (object: object | undefined, allowed: Set<string>) =>
  Object.keys(object ?? {}).filter((k) => !allowed.has(k))

const sqlQueryKeys = new Set(['refId', 'hide', 'datasource', 'rawSql', 'format', 'rawQuery', 'editorMode'])
const panelsOf = (d: Dashboard) => (d.panels ?? []).filter((p): p is Panel => p.type !== 'row')

describe('grafana/dashboards', () => {
  it('are exactly what grafana/src generates (npm run dashboards)', () => {
    for (const d of dashboards) expect(committed(d.file), d.file).toBe(dashboardJson(d))
    expect(readFileSync(join(root, 'docs', 'DASHBOARDS.md'), 'utf8')).toBe(dashboardsDoc())
    const files = readdirSync(join(root, 'grafana', 'dashboards')).sort()
    expect(files).toEqual(dashboards.map((d) => d.file).sort())
  })

  it('use the SDK’s schema version, unique uids and the pganalytics tag', () => {
    const uids = parsed.map((p) => p.json.uid)
    expect(new Set(uids).size).toBe(uids.length)
    for (const { file, json } of parsed) {
      expect(json.schemaVersion, file).toBe(defaultDashboard().schemaVersion)
      expect(json.tags, file).toContain('pganalytics')
    }
  })

  it('hold only keys the SDK declares', () => {
    const problems: string[] = []
    const check = (where: string, object: object | undefined, module: string, type: string) => {
      for (const key of extra(object, sdkKeys(module, type)))
        problems.push(`${where}: ${key} not in ${module}.${type}`)
    }
    for (const { file, json } of parsed) {
      check(file, json, 'dashboard', 'Dashboard')
      for (const v of json.templating.list ?? []) check(`${file} $${v.name}`, v, 'dashboard', 'VariableModel')
      for (const row of (json.panels ?? []).filter((p) => p.type === 'row'))
        check(`${file} row`, row, 'dashboard', 'RowPanel')
      for (const panel of panelsOf(json)) {
        const where = `${file} / ${panel.title}`
        check(where, panel, 'dashboard', 'Panel')
        check(`${where} options`, panel.options, panel.type, 'Options')
        check(`${where} fieldConfig`, panel.fieldConfig?.defaults, 'dashboard', 'FieldConfig')
        const custom = panel.fieldConfig?.defaults?.custom as object | undefined
        if (custom && Object.keys(custom).length > 0)
          check(`${where} custom`, custom, panel.type, 'FieldConfig')
        for (const o of panel.fieldConfig?.overrides ?? [])
          for (const p of o.properties) {
            const [head, tail] = p.id.split('.')
            if (head === 'custom')
              check(`${where} override`, { [tail as string]: 1 }, panel.type, 'FieldConfig')
            else check(`${where} override`, { [p.id]: 1 }, 'dashboard', 'FieldConfig')
          }
        for (const target of (panel.targets ?? []) as unknown as Record<string, unknown>[]) {
          if ('rawSql' in target)
            problems.push(...extra(target, sqlQueryKeys).map((k) => `${where}: query key ${k}`))
          else check(`${where} query`, target, 'prometheus', 'Dataquery')
        }
      }
    }
    expect(problems).toEqual([])
  })

  it('have unique panel ids and titles, on the 24-column grid without overlaps', () => {
    for (const { file, json } of parsed) {
      const all = (json.panels ?? []) as (Panel | RowPanel)[]
      const ids = all.map((p) => p.id)
      expect(new Set(ids).size, file).toBe(ids.length)
      const titles = panelsOf(json).map((p) => p.title)
      expect(new Set(titles).size, file).toBe(titles.length)
      const taken = new Set<string>()
      for (const p of all) {
        const g = p.gridPos as { x: number; y: number; w: number; h: number }
        expect(g.x + g.w, `${file} / ${p.title}`).toBeLessThanOrEqual(24)
        for (let x = g.x; x < g.x + g.w; x++)
          for (let y = g.y; y < g.y + g.h; y++) {
            expect(taken.has(`${x},${y}`), `${file} / ${p.title} overlaps`).toBe(false)
            taken.add(`${x},${y}`)
          }
      }
    }
  })

  it('use only variables they define, each after the ones it depends on', () => {
    const builtIn = /^__/
    for (const { file, json } of parsed) {
      const defined: string[] = []
      for (const v of json.templating.list ?? []) {
        for (const [, name] of String(v.query).matchAll(/\$(\w+)/g))
          if (!builtIn.test(name as string))
            expect(defined, `${file}: $${v.name} uses $${name}`).toContain(name)
        defined.push(v.name)
      }
      for (const panel of panelsOf(json))
        for (const t of (panel.targets ?? []) as unknown as { rawSql?: string; expr?: string }[])
          for (const [, name] of (t.rawSql ?? t.expr ?? '').matchAll(/\$(\w+)/g))
            if (!builtIn.test(name as string))
              expect(defined, `${file} / ${panel.title} uses $${name}`).toContain(name)
    }
  })
})

describe('grafana/provisioning', () => {
  const datasources = parse(
    readFileSync(join(root, 'grafana/provisioning/datasources/pganalytics.yaml'), 'utf8'),
  ) as {
    apiVersion: number
    datasources: { uid: string; type: string; jsonData: Record<string, unknown> }[]
  }
  const providers = parse(
    readFileSync(join(root, 'grafana/provisioning/dashboards/pganalytics.yaml'), 'utf8'),
  ) as {
    apiVersion: number
    providers: { type: string; options: { path: string } }[]
  }

  it('provisions every data source the dashboards name, with its type', () => {
    expect(datasources.apiVersion).toBe(1)
    const byUid = new Map(datasources.datasources.map((d) => [d.uid, d.type]))
    for (const { file, json } of parsed)
      for (const panel of panelsOf(json)) {
        const ds = panel.datasource as { uid: string; type: string }
        expect(byUid.get(ds.uid), `${file} / ${panel.title}`).toBe(ds.type)
      }
    for (const { json } of parsed)
      for (const v of json.templating.list ?? []) expect(byUid.has(v.datasource?.uid ?? '')).toBe(true)
  })

  it('reads the store read-only through the migration’s role and loads the dashboards folder', () => {
    const store = datasources.datasources.find((d) => d.uid === 'pganalytics-store')
    expect(store?.jsonData.timeInterval).toBe('15s')
    expect(readFileSync(join(root, 'migrations', '0013_dashboards_agent.sql'), 'utf8')).toMatch(
      /create role %I nologin/,
    )
    expect(providers.apiVersion).toBe(1)
    expect(providers.providers[0]).toMatchObject({
      type: 'file',
      // Grafana's environment interpolation, not a template string.
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana syntax
      options: { path: '${PGA_GRAFANA_DASHBOARDS_DIR}' },
    })
  })
})
