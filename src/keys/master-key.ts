// Where the master key (KEK) comes from: PGA_MASTER_KEY or PGA_MASTER_KEY_FILE, and during a KEK
// rotation also PGA_MASTER_KEY_PREVIOUS(_FILE). In embedded mode without one, a key is generated
// into the data directory (0600) and announced; with an external store it is required (config.ts
// refuses to start without it), since a key next to a shared database protects nothing.
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Config } from '../config.ts'
import { randomBytes } from '../platform/crypto/aes-gcm.ts'
import type { Logger } from '../platform/log.ts'
import { createLocalKek, type KeyEncryptionKey, MasterKeyError, parseMasterKey } from './kek.ts'

type KeySource = { value?: string; file?: string }

function readKeyFile(path: string, variable: string): string {
  try {
    // As PostgreSQL treats its key files: never readable by others; readable by a group only
    // when root owns the file (a Kubernetes Secret volume: root:fsGroup, mode 0440).
    const { mode, uid } = statSync(path)
    if ((mode & 0o007) !== 0 || ((mode & 0o070) !== 0 && uid !== 0))
      throw new MasterKeyError(
        `${variable} ${path} is readable by ${mode & 0o007 ? 'others' : 'its group'} (mode ${(mode & 0o777).toString(8)}); chmod 600 it (or 640 owned by root)`,
      )
    return readFileSync(path, 'utf8')
  } catch (error) {
    if (error instanceof MasterKeyError) throw error
    throw new MasterKeyError(
      `${variable} ${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
    )
  }
}

async function fromSource(source: KeySource, name: string): Promise<KeyEncryptionKey | undefined> {
  if (source.value) return createLocalKek(parseMasterKey(source.value, name))
  if (source.file)
    return createLocalKek(parseMasterKey(readKeyFile(source.file, `${name}_FILE`), `${name}_FILE`))
  return undefined
}

/** The configured KEK (and the previous one, while rotating). Generates one in embedded mode. */
export async function loadMasterKeys(
  config: Config,
  log: Logger,
): Promise<{ kek: KeyEncryptionKey; previousKek?: KeyEncryptionKey }> {
  const previousKek = await fromSource(
    { value: config.keys.previousMasterKey, file: config.keys.previousMasterKeyFile },
    'PGA_MASTER_KEY_PREVIOUS',
  )
  const configured = await fromSource(
    { value: config.keys.masterKey, file: config.keys.masterKeyFile },
    'PGA_MASTER_KEY',
  )
  if (configured) return { kek: configured, ...(previousKek ? { previousKek } : {}) }
  if (config.store.kind !== 'embedded') {
    throw new MasterKeyError(
      'PGA_MASTER_KEY or PGA_MASTER_KEY_FILE is required with an external store (DATABASE_URL)',
    )
  }
  const dataDir = resolve(config.store.dataDir)
  const path = join(dataDir, 'master.key')
  if (!existsSync(path)) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 })
    writeFileSync(path, `${Buffer.from(randomBytes(32)).toString('base64')}\n`, { mode: 0o600, flag: 'wx' })
    chmodSync(path, 0o600)
    log.warn(
      'GENERATED MASTER KEY: encryption at rest uses a new key; back it up, without it encrypted data is lost',
      {
        file: path,
      },
    )
  }
  return {
    kek: await createLocalKek(parseMasterKey(readKeyFile(path, 'master key file'), path)),
    ...(previousKek ? { previousKek } : {}),
  }
}
