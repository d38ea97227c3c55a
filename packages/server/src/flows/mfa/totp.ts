import { Secret, TOTP } from 'otpauth'
import { TesseraError } from '../../errors.js'
import { openSealed, sealSecret, type WrappingKeys } from '../../keys/wrapping.js'
import { PRODUCT_NAME } from '../../mail/templates.js'

/** RFC 6238 parameters every authenticator app understands: SHA-1, 6 digits, 30-second steps. */
const PERIOD = 30
const DIGITS = 6
/** Steps of clock drift accepted either way (a code typed just as it changed). */
const DRIFT_STEPS = 1

const totpOf = (secret: string, label = '') =>
  new TOTP({
    issuer: PRODUCT_NAME,
    label,
    algorithm: 'SHA1',
    digits: DIGITS,
    period: PERIOD,
    secret: Secret.fromBase32(secret),
  })

/** A new secret of 160 random bits (RFC 4226's recommended length), base32 as apps take it. */
export const newTotpSecret = (): string => new Secret({ size: 20 }).base32

/** The `otpauth://totp/…` URI and its QR code (SVG) for an authenticator app. */
export async function enrolmentOf(
  secret: string,
  label: string,
): Promise<{ otpauthUri: string; qrSvg: string }> {
  const otpauthUri = totpOf(secret, label).toString()
  // the QR encoder is loaded at the first enrolment, not held by every server
  const QRCode = await import('qrcode')
  const qrSvg = await QRCode.toString(otpauthUri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 })
  return { otpauthUri, qrSvg }
}

/**
 * The time step a code belongs to when it is valid at `at` (within the drift), else undefined. The
 * caller records the step, so the same code (or an older one) is refused afterwards.
 */
export function stepOfCode(secret: string, code: string, at: Date): number | undefined {
  if (!new RegExp(`^\\d{${DIGITS}}$`).test(code)) return undefined
  const timestamp = at.getTime()
  const delta = totpOf(secret).validate({ token: code, timestamp, window: DRIFT_STEPS })
  if (delta === null) return undefined
  return Math.floor(timestamp / 1000 / PERIOD) + delta
}

export const sealTotpSecret = (keys: WrappingKeys, secret: string): Promise<string> =>
  sealSecret(keys, secret)

/** Opens a stored secret; a secret neither TESSERA_SECRET nor the previous one opens is a fault. */
export async function openTotpSecret(keys: WrappingKeys, sealed: string): Promise<string> {
  const opened = await openSealed(keys, sealed)
  if (!opened) {
    throw new TesseraError('INTERNAL', {
      reason: 'a TOTP secret opens with neither TESSERA_SECRET nor the previous one',
    })
  }
  return opened.plaintext
}
