// TOTP (RFC 6238: HMAC-SHA-1, 6 digits, 30 s step) with one step of drift either way, and the
// step that matched, so a code can be refused on replay. Backup codes: 10 single-use codes of 60
// random bits, shown once and stored as SHA-256 hashes (their entropy makes a slow hash needless).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { encodeBase32UpperCaseNoPadding } from '@oslojs/encoding'
import { createTOTPKeyURI, generateHOTP } from '@oslojs/otp'

export const totpStepSeconds = 30
const digits = 6

export const newTotpSecret = () => new Uint8Array(randomBytes(20))
export const currentStep = (now = Date.now()) => Math.floor(now / 1000 / totpStepSeconds)

/** The step (current or one either side) whose code this is, or null. */
export function matchingStep(secret: Uint8Array, code: string, now = Date.now()): number | null {
  if (!/^\d{6}$/.test(code)) return null
  const step = currentStep(now)
  for (const candidate of [step, step - 1, step + 1]) {
    const expected = generateHOTP(secret, BigInt(candidate), digits)
    if (timingSafeEqual(Buffer.from(expected), Buffer.from(code))) return candidate
  }
  return null
}

export const totpCode = (secret: Uint8Array, step: number) => generateHOTP(secret, BigInt(step), digits)

export async function enrollmentOf(secret: Uint8Array, issuer: string, account: string) {
  const uri = createTOTPKeyURI(issuer, account, secret, totpStepSeconds, digits)
  // qrcode (and pngjs) load with the first enrolment, not at start-up.
  const { default: QRCode } = await import('qrcode')
  return {
    secret: encodeBase32UpperCaseNoPadding(secret),
    otpauthUri: uri,
    qrSvg: await QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 }),
    qrPngDataUrl: await QRCode.toDataURL(uri, { errorCorrectionLevel: 'M', margin: 2, scale: 6 }),
  }
}

export const hashBackupCode = (code: string) =>
  createHash('sha256').update(code.replace(/[\s-]/g, '').toUpperCase()).digest('hex')

export function newBackupCodes(): string[] {
  return Array.from({ length: 10 }, () => {
    const code = encodeBase32UpperCaseNoPadding(randomBytes(8)).slice(0, 12)
    return `${code.slice(0, 4)}-${code.slice(4, 8)}-${code.slice(8)}`
  })
}
