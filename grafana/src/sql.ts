// SQL building blocks of the dashboards, over the store's snapshot tables. Every time series keeps
// the last sample of each series per Grafana interval ($__timeGroup over $__interval), like the
// read API keeps the last sample per step; counters become per-second rates between consecutive
// kept samples with the read API's reset-safe rule: null when there is no previous sample, when
// the counter went down (a crash restart) or when stats_reset changed. Windows over a range sum
// the guarded per-sample increases, so a reset inside the range loses nothing (readWindow's rule).
// The range is widened by one interval so the first point has a rate.

/** The selected instance; `$instance` is a single-value variable: Grafana substitutes it raw. */
export const instanceIs = (alias = '') => `${alias}instance_id = '$instance'`

/** Samples of the range, widened by one interval back. */
export const widenedRange = (column = 'taken_at') =>
  `${column} >= $__timeFrom()::timestamptz - make_interval(secs => $__interval_ms / 1000.0) and ${column} <= $__timeTo()::timestamptz`

export type SeriesSource = {
  table: string
  /** Columns identifying one series (a database, a device, a standby...); empty for one-row groups. */
  keys: string[]
  /** Columns carried as they are (gauges, labels). */
  columns?: string[]
  /** Counters turned into per-second rates (in `rated`) or per-window increases (in `increases`). */
  counters?: string[]
  /** The table has stats_reset: a change of it makes the rate null. */
  reset?: boolean
  /** Extra conditions (variables such as `datname in ($database)`). */
  where?: string
  /** Default: the selected instance. */
  instance?: string
}

const list = (items: string[]) => items.join(', ')

/** CTE `<name>`: the last sample of each series per interval, with `bucket` (epoch seconds). */
export function lastPerInterval(s: SeriesSource, name = 'samples'): string {
  const carried = [...(s.columns ?? []), ...(s.counters ?? []), ...(s.reset ? ['stats_reset'] : [])]
  const order = [...s.keys, 'bucket']
  return `${name} as (
  select distinct on (${list(order)}) ${list([...s.keys, 'taken_at', ...carried])},
         $__timeGroup(taken_at, $__interval) as bucket
    from ${s.table}
   where ${s.instance ?? instanceIs()} and ${widenedRange()}${s.where ? ` and ${s.where}` : ''}
   order by ${list(order)}, taken_at desc)`
}

/** The guarded per-second rate of a counter between consecutive rows of window `w`. */
export function rateOf(counter: string, reset: boolean): string {
  const guard = `lag(${counter}) over w is null or ${counter} < lag(${counter}) over w${
    reset ? ' or stats_reset is distinct from lag(stats_reset) over w' : ''
  }`
  return `case when ${guard} then null
              else (${counter} - lag(${counter}) over w)::float8 / nullif(extract(epoch from taken_at - lag(taken_at) over w), 0) end`
}

/** CTEs `<name>_samples` and `<name>`: per series and interval, `time`, the keys, the carried
 * columns and each counter as a per-second rate under its own name. */
export function ratedCtes(s: SeriesSource, name: string): string {
  const counters = s.counters ?? []
  const carried = [...s.keys, ...(s.columns ?? [])].map((c) => `, ${c}`).join('')
  const rates = counters.map((c) => `,\n         ${rateOf(c, s.reset ?? false)} as ${c}`).join('')
  return `${lastPerInterval(s, `${name}_samples`)},
${name} as (
  select to_timestamp(bucket) as time${carried}${rates}
    from ${name}_samples
  window w as (${s.keys.length > 0 ? `partition by ${list(s.keys)} ` : ''}order by taken_at))`
}

/** `with` and the CTEs of ratedCtes named `rated`: select from `rated`. */
export const rated = (s: SeriesSource) => `with ${ratedCtes(s, 'rated')}`

/** Only points inside the range (the widened interval before it served the first rate). */
export const inRange = (column = 'time') => `${column} >= $__timeFrom()::timestamptz`

/** CTEs `lagged` and `increases`: per series, each counter's increase over the range, summed
 * sample to sample (after a reset the counter itself counts; a series appearing after the range's
 * first sample counts whole), and the first and last value of each carried column. */
export function increases(s: SeriesSource): string {
  const counters = s.counters ?? []
  const columns = s.columns ?? []
  const partition = s.keys.length > 0 ? `partition by ${list(s.keys)} ` : ''
  const resetChanged = s.reset
    ? 'stats_reset is distinct from lag(stats_reset) over w and lag(taken_at) over w is not null'
    : 'false'
  return `with lagged as (
  select ${list([...s.keys, 'taken_at', ...columns, ...counters])}, min(taken_at) over () as window_start,
         ${resetChanged} as reset_changed${counters.map((c) => `, lag(${c}) over w as prev_${c}`).join('')}
    from ${s.table}
   where ${s.instance ?? instanceIs()} and $__timeFilter(taken_at)${s.where ? ` and ${s.where}` : ''}
  window w as (${partition}order by taken_at)),
increases as (
  select ${s.keys.map((k) => `${k}, `).join('')}${counters
    .map(
      (c) => `sum(case when prev_${c} is null then case when taken_at > window_start then ${c} else 0 end
                      when ${c} < prev_${c} or reset_changed then ${c} else ${c} - prev_${c} end) as ${c}`,
    )
    .join(',\n         ')}${columns
    .map(
      (c) =>
        `${counters.length > 0 ? ',' : ''}\n         (array_agg(${c} order by taken_at))[1] as first_${c}, (array_agg(${c} order by taken_at desc))[1] as ${c}`,
    )
    .join('')}
    from lagged${s.keys.length > 0 ? ` group by ${list(s.keys)}` : ''})`
}

/** CTE `snaps`: the last successful snapshot of a group per interval (and per database for the
 * per-database groups), for panels that sum the rows of one snapshot (sessions by state, ...). */
export function lastSnapshots(group: string, perDatabase = false): string {
  const key = perDatabase ? 'datname, bucket' : 'bucket'
  return `snaps as (
  select distinct on (${key}) snap_id, taken_at, datname, $__timeGroup(taken_at, $__interval) as bucket
    from sn_stat_snapshot
   where ${instanceIs()} and group_name = '${group}' and status = 'ok' and $__timeFilter(taken_at)
   order by ${key}, taken_at desc)`
}

/** CTE `latest`: the newest successful snapshot of a group in the range (one per database for the
 * per-database groups), for tables of current state. */
export function latestSnapshot(group: string, perDatabase = false): string {
  return `latest as (
  select distinct on (datname) snap_id, taken_at, datname
    from sn_stat_snapshot
   where ${instanceIs()} and group_name = '${group}' and status = 'ok' and $__timeFilter(taken_at)
   order by datname, taken_at desc${perDatabase ? '' : '\n   limit 1'})`
}
