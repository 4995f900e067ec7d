// Run as another OS user (runuser) by backup-local.test.ts: prints what probeLocalCopy decides
// for the server at argv[2] when this process cannot read its data directory.
import postgres from 'postgres'
import { probeLocalCopy } from '../../src/backup/local-copy.ts'

const sql = postgres(process.argv[2] as string, { max: 1, onnotice: () => {} })
try {
  console.log(JSON.stringify(await probeLocalCopy(sql)))
} finally {
  await sql.end()
}
