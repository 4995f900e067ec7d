// Reads an audit event wherever it is now: still in the outbox, or already sealed into the
// chain by a running replica's sealer.
import postgres from 'postgres'

/** The client address recorded with the `auth.login` of a session. */
export async function loginAddress(
  databaseUrl: string,
  sessionId: string,
): Promise<string | null | undefined> {
  const sql = postgres(databaseUrl, { max: 1 })
  try {
    const [row] = await sql<{ ip: string | null }[]>`
      select ip_address as ip from audit_logs where event_type = 'auth.login' and session_id = ${sessionId}
      union all
      select event->>'ipAddress' from audit_outbox
      where event->>'eventType' = 'auth.login' and event->>'sessionId' = ${sessionId}`
    return row?.ip
  } finally {
    await sql.end()
  }
}
