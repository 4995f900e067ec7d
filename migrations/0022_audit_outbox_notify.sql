-- The audit sealer listens on pga_audit_outbox (issue 17: idle cost). A statement that writes
-- outbox rows notifies the channel; PostgreSQL delivers it when the transaction commits, never
-- for one that rolls back. The sealer then seals at once, whichever replica wrote the event,
-- and polls the outbox only every 5 s as a safety net instead of every 500 ms.
create function pga_audit_outbox_notify() returns trigger language plpgsql as $$
begin
  perform pg_notify('pga_audit_outbox', '');
  return null;
end
$$;

create trigger audit_outbox_notify after insert on audit_outbox
  for each statement execute function pga_audit_outbox_notify();
