-- TOTP replay protection and the MFA policy per role (src/auth/mfa.ts).

-- The last TOTP time step accepted for the user: a code is accepted only for a later step, so a
-- code seen once (or an earlier one) is refused on replay, on every replica, durably.
alter table auth_users add column mfa_last_step bigint;

-- Roles whose members must use MFA: without it enrolled, their sign-in yields a session that can
-- only enroll.
create table auth_role_policies (
  role text primary key check (role in ('admin', 'operator', 'viewer', 'auditor')),
  mfa_required boolean not null default false,
  updated_at timestamptz not null default now(),
  updated_by text
);
insert into auth_role_policies (role) values ('admin'), ('operator'), ('viewer'), ('auditor');

-- At most one signing key is active, so replicas racing to create the first key create one.
create unique index auth_signing_keys_one_active on auth_signing_keys ((true)) where retired_at is null;
