-- Retention and archiving of the audit trail (src/audit/archiver.ts). One policy per compliance
-- framework; the trail is one chain, so the strictest policy wins: entries stay in audit_logs for
-- the longest archive_after_days, and archived bundles are kept for the longest retention_days
-- and deleted only when every policy allows deletion (none does by default).

create table audit_log_retention_policy (
  framework text primary key check (framework in ('gdpr', 'hipaa', 'sox', 'pci-dss')),
  retention_days integer not null check (retention_days between 1 and 36500),
  -- Null: this framework asks for no time in the live table before archiving.
  archive_after_days integer check (archive_after_days between 1 and retention_days),
  deletion_allowed boolean not null default false,
  updated_at timestamptz not null default now(),
  updated_by text
);
-- HIPAA 164.316(b)(2): 6 years; SOX 802 / SEC 17a-4: 7 years; PCI-DSS 10.5.1: 1 year, the last
-- 3 months immediately available; GDPR sets no period: 3 years, a common choice.
insert into audit_log_retention_policy (framework, retention_days, archive_after_days) values
  ('gdpr', 1095, 365),
  ('hipaa', 2190, 365),
  ('sox', 2555, 365),
  ('pci-dss', 365, 90);

-- One row per bundle moved to object storage: entries first_id..last_id, ending at a checkpoint.
-- Live verification resumes after the last bundle from last_content_hash and that checkpoint's
-- frontier; the bundle itself verifies offline against the published keys.
create table audit_logs_archive (
  id bigint generated always as identity primary key,
  first_id bigint not null check (first_id > 0),
  last_id bigint not null unique references audit_log_verification (tree_size),
  entry_count bigint not null check (entry_count = last_id - first_id + 1),
  first_created_at timestamptz not null,
  last_created_at timestamptz not null,
  -- content_hash of entry first_id - 1 (64 zeros for the first bundle) and of entry last_id.
  previous_hash text not null,
  last_content_hash text not null,
  store text not null,
  object_key text not null,
  sha256 text not null,
  size_bytes bigint not null,
  archived_at timestamptz not null default now(),
  -- Set when the bundle was deleted from object storage past retention (the row stays).
  expired_at timestamptz
);

-- Bundles are contiguous: each starts right after the previous one.
create function audit_archive_contiguous() returns trigger language plpgsql as $$
begin
  if new.first_id <> coalesce((select max(last_id) from audit_logs_archive), 0) + 1 then
    raise exception 'audit archive must start at entry %', coalesce((select max(last_id) from audit_logs_archive), 0) + 1
      using errcode = 'P0001';
  end if;
  return new;
end $$;
create trigger audit_logs_archive_contiguous before insert on audit_logs_archive
  for each row execute function audit_archive_contiguous();

-- Archive records are never removed; only expired_at may be set, once.
create function audit_archive_record_guard() returns trigger language plpgsql as $$
begin
  if tg_op = 'UPDATE' and old.expired_at is null and new.expired_at is not null
     and (to_jsonb(new) - 'expired_at') = (to_jsonb(old) - 'expired_at') then
    return new;
  end if;
  raise exception 'audit table % is append-only: % rejected', tg_table_name, tg_op using errcode = 'P0001';
end $$;
create trigger audit_logs_archive_guard before update or delete on audit_logs_archive
  for each row execute function audit_archive_record_guard();
create trigger audit_logs_archive_no_truncate before truncate on audit_logs_archive
  for each statement execute function audit_append_only();

-- audit_logs stays append-only, except that the archiver removes a range it has just recorded in
-- audit_logs_archive, in the same transaction, naming that record in pga.audit_archive_id.
create or replace function audit_append_only() returns trigger language plpgsql as $$
begin
  -- Nested: the other tables' rows have no id column to compare.
  if tg_table_name = 'audit_logs' and tg_op = 'DELETE' then
    if exists (select 1 from audit_logs_archive a
                where a.id = nullif(current_setting('pga.audit_archive_id', true), '')::bigint
                  and old.id between a.first_id and a.last_id
                  and a.archived_at = now()) then
      return old;
    end if;
  end if;
  raise exception 'audit table % is append-only: % rejected', tg_table_name, tg_op
    using errcode = 'P0001', hint = 'audit entries are never changed or removed; see docs/AUDIT_LOGGING.md';
end $$;

grant delete on audit_logs to current_user;
revoke update, delete, truncate on audit_logs_archive from current_user;
grant update (expired_at) on audit_logs_archive to current_user;
