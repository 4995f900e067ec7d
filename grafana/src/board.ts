// A dashboard as the generator writes it: the SDK's typed builders (DashboardBuilder, the panel
// builders of timeseries, stat, table, bar gauge), laid out in rows, with the links to the other
// pganalytics dashboards, ids, and what the query test needs to know: panels that may legitimately
// be empty (nothing blocked, no vacuum running) say why.

import { PanelBuilder as BarGaugePanel } from '@grafana/grafana-foundation-sdk/bargauge'
import type { Builder } from '@grafana/grafana-foundation-sdk/cog'
import * as common from '@grafana/grafana-foundation-sdk/common'
import {
  type Dashboard,
  DashboardBuilder,
  DashboardCursorSync,
  DashboardLinkBuilder,
  DashboardLinkType,
  RowBuilder,
  ThresholdsConfigBuilder,
  ThresholdsMode,
  type VariableModel,
} from '@grafana/grafana-foundation-sdk/dashboard'
import { PanelBuilder as StatPanel } from '@grafana/grafana-foundation-sdk/stat'
import { PanelBuilder as TablePanel } from '@grafana/grafana-foundation-sdk/table'
import { PanelBuilder as TimeseriesPanel } from '@grafana/grafana-foundation-sdk/timeseries'
import { prometheusDatasource, promQuery, SqlQueryBuilder, storeDatasource } from './datasources.ts'

export type PanelOptions = {
  /** What the panel answers (shown as its description in Grafana). */
  description: string
  sql?: string
  promql?: { expr: string; instant?: boolean; legend?: string }
  unit?: string
  /** Grid width (of 24) and height. */
  width?: number
  height?: number
  /** Why the panel may have no rows on a healthy instance; the query test then accepts none. */
  mayBeEmpty?: string
  stack?: boolean
  min?: number
  max?: number
  /** Thresholds from a base colour: [[value, colour], ...]. */
  thresholds?: [number, string][]
  decimals?: number
  /** Per column of a table: its unit. */
  fieldUnits?: Record<string, string>
  /** Per column: a data link (`${__data.fields.<name>}` names another column of the row). */
  fieldLinks?: Record<string, { title: string; url: string }>
  /** Columns the query needs (for links) but the table does not show. */
  hiddenFields?: string[]
}

type AnyPanel = TimeseriesPanel | StatPanel | TablePanel | BarGaugePanel

export class Board {
  private readonly builder: DashboardBuilder
  private nextId = 1
  /** Panel title → why it may be empty. */
  readonly mayBeEmpty = new Map<string, string>()
  private readonly titles = new Set<string>()
  /** Where the next panel goes on Grafana's 24-column grid (the SDK's builder does not wrap a
   * panel wider than what is left of the line). */
  private x = 0
  private y = 0
  private lineHeight = 0

  constructor(meta: {
    uid: string
    title: string
    description: string
    variables: Builder<VariableModel>[]
    time?: string
  }) {
    this.builder = new DashboardBuilder(meta.title)
      .uid(meta.uid)
      .description(meta.description)
      .tags(['pganalytics'])
      .editable()
      .tooltip(DashboardCursorSync.Crosshair)
      .time({ from: meta.time ?? 'now-6h', to: 'now' })
      .refresh('1m')
      .timezone('browser')
      .variables(meta.variables)
      .link(
        new DashboardLinkBuilder('pganalytics')
          .type(DashboardLinkType.Dashboards)
          .tags(['pganalytics'])
          .asDropdown(true)
          .includeVars(true)
          .keepTime(true),
      )
  }

  row(title: string): this {
    this.newLine()
    this.builder.withRow(new RowBuilder(title).id(this.nextId++).gridPos({ x: 0, y: this.y, w: 24, h: 1 }))
    this.y += 1
    return this
  }

  private newLine() {
    if (this.x === 0) return
    this.y += this.lineHeight
    this.x = 0
    this.lineHeight = 0
  }

  /** The next free place for a w × h panel. */
  private place(w: number, h: number) {
    if (this.x + w > 24) this.newLine()
    const position = { x: this.x, y: this.y, w, h }
    this.x += w
    this.lineHeight = Math.max(this.lineHeight, h)
    if (this.x >= 24) this.newLine()
    return position
  }

  private add<P extends AnyPanel>(
    panel: P,
    title: string,
    o: PanelOptions,
    format: 'time_series' | 'table',
  ): this {
    if (!o.sql === !o.promql) throw new Error(`${title}: give sql or promql`)
    if (this.titles.has(title)) throw new Error(`two panels titled ${title}`)
    this.titles.add(title)
    panel
      .id(this.nextId++)
      .title(title)
      .description(o.description)
      .gridPos(this.place(o.width ?? 12, o.height ?? 8))
    if (o.sql) panel.datasource(storeDatasource).withTarget(new SqlQueryBuilder(o.sql, format).refId('A'))
    if (o.promql) panel.datasource(prometheusDatasource).withTarget(promQuery(o.promql.expr, o.promql))
    if (o.unit) panel.unit(o.unit)
    if (o.min !== undefined) panel.min(o.min)
    if (o.max !== undefined) panel.max(o.max)
    if (o.decimals !== undefined) panel.decimals(o.decimals)
    if (o.thresholds) panel.thresholds(thresholds(o.thresholds))
    for (const [field, unit] of Object.entries(o.fieldUnits ?? {}))
      panel.overrideByName(field, [{ id: 'unit', value: unit }])
    for (const [field, link] of Object.entries(o.fieldLinks ?? {}))
      panel.overrideByName(field, [{ id: 'links', value: [link] }])
    for (const field of o.hiddenFields ?? [])
      panel.overrideByName(field, [{ id: 'custom.hidden', value: true }])
    if (o.mayBeEmpty) this.mayBeEmpty.set(title, o.mayBeEmpty)
    this.builder.withPanel(panel)
    return this
  }

  timeseries(title: string, o: PanelOptions): this {
    const panel = new TimeseriesPanel()
      .fillOpacity(o.stack ? 60 : 10)
      .showPoints(common.VisibilityMode.Never)
      .spanNulls(false)
      .legend(
        new common.VizLegendOptionsBuilder()
          .showLegend(true)
          .displayMode(common.LegendDisplayMode.Table)
          .placement(common.LegendPlacement.Bottom)
          .calcs(['mean', 'max', 'lastNotNull']),
      )
      .tooltip(
        new common.VizTooltipOptionsBuilder()
          .mode(common.TooltipDisplayMode.Multi)
          .sort(common.SortOrder.Descending),
      )
    if (o.stack) panel.stacking(new common.StackingConfigBuilder().mode(common.StackingMode.Normal))
    return this.add(panel, title, o, 'time_series')
  }

  stat(title: string, o: PanelOptions): this {
    const panel = new StatPanel()
      .graphMode(common.BigValueGraphMode.Area)
      .colorMode(common.BigValueColorMode.Value)
      .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
    return this.add(panel, title, { width: 4, height: 4, ...o }, o.promql ? 'time_series' : 'table')
  }

  table(title: string, o: PanelOptions): this {
    const panel = new TablePanel().showHeader(true).cellHeight(common.TableCellHeight.Sm)
    return this.add(panel, title, { width: 24, height: 9, ...o }, 'table')
  }

  barGauge(title: string, o: PanelOptions): this {
    const panel = new BarGaugePanel()
      .displayMode(common.BarGaugeDisplayMode.Gradient)
      .orientation(common.VizOrientation.Horizontal)
      .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(true))
    return this.add(panel, title, o, 'table')
  }

  build(): Dashboard {
    return this.builder.build()
  }
}

function thresholds(steps: [number, string][]) {
  return new ThresholdsConfigBuilder()
    .mode(ThresholdsMode.Absolute)
    .steps([{ value: null, color: 'green' }, ...steps.map(([value, color]) => ({ value, color }))])
}

/** One generated dashboard: its file under grafana/dashboards and how to build it. */
export type DashboardDefinition = {
  file: string
  /** One line for docs/DASHBOARDS.md: the questions it answers. */
  answers: string
  build: () => Board
}
