// Sequence exhaustion: how much of its range each sequence has used. A sequence owned by a
// column (serial, identity, OWNED BY) is limited by the smaller of its own bound and the column
// type's (a bigint sequence feeding an integer column fails at 2^31 - 1), so the limit is the
// tighter of the two. Per database, the closest to exhaustion first.
import { gauge, key, label } from './columns.ts'
import type { MetricGroup } from './types.ts'

/** Largest and smallest value of the owning column's type; null for types without a fixed range. */
const typeBound = (typid: string, end: 'max' | 'min') =>
  end === 'max'
    ? `case ${typid} when 'smallint'::regtype then 32767 when 'integer'::regtype then 2147483647
            when 'bigint'::regtype then 9223372036854775807 end`
    : `case ${typid} when 'smallint'::regtype then -32768 when 'integer'::regtype then -2147483648
            when 'bigint'::regtype then -9223372036854775808 end`

export const sequences: MetricGroup = {
  name: 'sequences',
  scope: 'database',
  table: 'sn_sequences',
  help: 'Sequences of each database and how much of their range is used, limited by the type of the column that owns them (serial, identity): the closest to exhaustion first.',
  defaultIntervalSeconds: 900,
  defaultRetentionDays: 30,
  rowLimit: 100,
  privileges:
    'Reading a sequence’s position needs SELECT or USAGE on it (pg_monitor does not give it: GRANT pg_read_all_data, or SELECT on the sequences); sequences the login may not read are left out.',
  columns: [
    key('datname', 'text', 'Database.'),
    key('schemaname', 'text', 'Schema.'),
    key('sequence_name', 'text', 'Sequence.'),
    label('data_type', 'text', 'Type of the sequence.'),
    label('owned_by', 'text', 'Column that owns it (table.column), for serial, identity and OWNED BY.'),
    label('column_type', 'text', 'Type of that column.'),
    label('cycle', 'boolean', 'Wraps around at the limit instead of failing.'),
    gauge('last_value', 'bigint', 'Last value handed out.'),
    gauge('increment_by', 'bigint', 'Increment (negative for a descending sequence).'),
    gauge('limit_value', 'bigint', 'Value it cannot pass: the tighter of its bound and its column type’s.'),
    gauge('remaining', 'bigint', 'Values it can still hand out before the limit.'),
    gauge('used_fraction', 'double precision', 'Fraction of its range used (1 is exhausted).'),
  ],
  variants: [
    {
      when: () => true,
      source: 'pg_sequence, pg_sequence_last_value, pg_depend, pg_attribute',
      sql: `with owned as (
              select s.seqrelid, n.nspname::text as schemaname, c.relname::text as sequence_name,
                     format_type(s.seqtypid, null) as data_type, s.seqincrement, s.seqmin, s.seqmax, s.seqcycle,
                     pg_sequence_last_value(s.seqrelid) as last_value,
                     quote_ident(t.relname) || '.' || quote_ident(a.attname) as owned_by,
                     format_type(a.atttypid, null) as column_type,
                     ${typeBound('a.atttypid', 'max')} as column_max, ${typeBound('a.atttypid', 'min')} as column_min
                from pg_sequence s
                join pg_class c on c.oid = s.seqrelid
                join pg_namespace n on n.oid = c.relnamespace
                left join pg_depend d on d.classid = 'pg_class'::regclass and d.objid = s.seqrelid
                     and d.refclassid = 'pg_class'::regclass and d.refobjsubid > 0 and d.deptype in ('a', 'i')
                left join pg_class t on t.oid = d.refobjid
                left join pg_attribute a on a.attrelid = d.refobjid and a.attnum = d.refobjsubid
               where has_sequence_privilege(s.seqrelid, 'SELECT,USAGE') and not pg_is_other_temp_schema(n.oid)
            ),
            bounded as (
              select *, case when seqincrement > 0 then least(seqmax, coalesce(column_max, seqmax))
                             else greatest(seqmin, coalesce(column_min, seqmin)) end as limit_value
                from owned where last_value is not null
            )
            select current_database()::text as datname, schemaname, sequence_name, data_type, owned_by, column_type,
                   seqcycle as cycle, last_value, seqincrement as increment_by, limit_value,
                   ((limit_value::numeric - last_value) / seqincrement)::bigint as remaining,
                   (case when seqincrement > 0
                         then (last_value::numeric - seqmin) / nullif(limit_value::numeric - seqmin, 0)
                         else (seqmax::numeric - last_value) / nullif(seqmax::numeric - limit_value, 0)
                    end)::double precision as used_fraction
              from bounded
             order by used_fraction desc nulls last, seqrelid
             limit $1`,
    },
  ],
}
