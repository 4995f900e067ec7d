// Where the master key comes from: environment, file (private only), or generated in embedded
// mode; never echoed.
import { chmodSync, chownSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.ts'
import { MasterKeyError } from '../../src/keys/kek.ts'
import { loadMasterKeys } from '../../src/keys/master-key.ts'
import { tempDir } from '../harness/processes.ts'
import { captureLogs } from '../support/logs.ts'
import { newMasterKey } from '../support/master-key.ts'

describe('loadMasterKeys', () => {
  it('generates a private key file in embedded mode once, then reuses it', async () => {
    const dataDir = join(tempDir('mk'), 'data')
    const logs = captureLogs()
    const config = loadConfig({ PGA_DATA_DIR: dataDir })
    const first = await loadMasterKeys(config, logs.log)
    const file = join(dataDir, 'master.key')
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(logs.text()).toMatch(/GENERATED MASTER KEY.*back it up/)
    expect(logs.text()).not.toContain(readFileSync(file, 'utf8').trim())
    const second = await loadMasterKeys(config, captureLogs().log)
    expect(second.kek.id).toBe(first.kek.id)
  })

  it('reads PGA_MASTER_KEY_FILE, and refuses one readable by others', async () => {
    const file = join(tempDir('mk'), 'key')
    const key = newMasterKey()
    writeFileSync(file, `${key}\n`, { mode: 0o600 })
    const env = { DATABASE_URL: 'postgres://x@db/x', PGA_MASTER_KEY_FILE: file }
    const fromFile = await loadMasterKeys(loadConfig(env), captureLogs().log)
    const fromEnv = await loadMasterKeys(
      loadConfig({ DATABASE_URL: 'postgres://x@db/x', PGA_MASTER_KEY: key }),
      captureLogs().log,
    )
    expect(fromFile.kek.id).toBe(fromEnv.kek.id)
    chmodSync(file, 0o644)
    await expect(loadMasterKeys(loadConfig(env), captureLogs().log)).rejects.toThrow(
      /readable by others \(mode 644\); chmod 600/,
    )
    chmodSync(file, 0o604)
    await expect(loadMasterKeys(loadConfig(env), captureLogs().log)).rejects.toThrow(/readable by others/)
    // Readable by its group: only when root owns it (a Kubernetes Secret volume with an fsGroup).
    chmodSync(file, 0o440)
    if (statSync(file).uid === 0) {
      expect((await loadMasterKeys(loadConfig(env), captureLogs().log)).kek.id).toBe(fromEnv.kek.id)
      chownSync(file, 65534, 65534)
    }
    await expect(loadMasterKeys(loadConfig(env), captureLogs().log)).rejects.toThrow(/readable by its group/)
  })

  it('refuses a key file that is not a 32-byte base64 key, without echoing it', async () => {
    const file = join(tempDir('mk'), 'key')
    writeFileSync(file, 'aHVudGVyMg==', { mode: 0o600 })
    const error = await loadMasterKeys(
      loadConfig({ DATABASE_URL: 'postgres://x@db/x', PGA_MASTER_KEY_FILE: file }),
      captureLogs().log,
    ).catch((e) => e)
    expect(error).toBeInstanceOf(MasterKeyError)
    expect(error.message).toMatch(/must decode to 32 bytes \(got 7\)/)
    expect(error.message).not.toContain('aHVudGVyMg')
  })

  it('loads the previous key as well during a master-key rotation', async () => {
    const config = loadConfig({
      DATABASE_URL: 'postgres://x@db/x',
      PGA_MASTER_KEY: newMasterKey(),
      PGA_MASTER_KEY_PREVIOUS: newMasterKey(),
    })
    const keys = await loadMasterKeys(config, captureLogs().log)
    expect(keys.previousKek?.id).toMatch(/^local:[0-9a-f]{16}$/)
    expect(keys.previousKek?.id).not.toBe(keys.kek.id)
  })
})
