-- First migration: a place for facts about this installation (one row per key), so later
-- capabilities and `pganalytics version` can tell which store they talk to.
create table pga_installation (
  key text primary key,
  value text not null,
  updated_at timestamptz not null default now()
);

insert into pga_installation (key, value) values ('installation_id', gen_random_uuid()::text);
