// A master key for tests that use an external store (required with DATABASE_URL).
import { randomBytes } from 'node:crypto'

export const testMasterKey = randomBytes(32).toString('base64')

export function newMasterKey(): string {
  return randomBytes(32).toString('base64')
}
