import type { Config } from '../config.js'

/**
 * Which key signs, when a rotation is due and what the JWKS keeps: pure functions of key rows and
 * a time, so every instance given the same rows decides alike.
 */

/** The times of a key that the policy reads. */
export interface KeySchedule {
  activatesAt: Date
  retiredAt: Date | null
}

/** The key that signs at `now`: the newest one activated and not yet retired. Rows come newest first. */
export const signingRowAt = <R extends KeySchedule>(rows: readonly R[], now: Date): R | undefined =>
  rows.find((row) => row.activatesAt <= now && (row.retiredAt === null || row.retiredAt > now))

/**
 * The key that signs at `now`, or, with a clock stepped back before every activation, the oldest
 * live key, so a server never stops signing for a clock that went backwards.
 */
export const signerAt = <R extends KeySchedule>(rows: readonly R[], now: Date): R | undefined =>
  signingRowAt(rows, now) ?? rows.at(-1)

/** The keys that sign now or will: not retired at `now`. */
export const liveAt = <R extends KeySchedule>(rows: readonly R[], now: Date): R[] =>
  rows.filter((row) => row.retiredAt === null || row.retiredAt > now)

/**
 * Whether the key signing at `now` is due for its scheduled rotation: its successor, published
 * `lead` seconds ahead, would take over once it is `rotateAfter` seconds old. null: never.
 */
export const rotationDue = (
  signing: KeySchedule,
  now: Date,
  rotateAfter: number | null,
  lead: number,
): boolean =>
  rotateAfter !== null && now.getTime() + lead * 1000 - signing.activatesAt.getTime() >= rotateAfter * 1000

export interface SigningKeyRules<A extends string> {
  alg: A
  /** Rotate now, whatever the age of the active key. */
  rotate?: boolean | undefined
  /** Seconds after activation at which a key is rotated automatically; null or absent: never. */
  rotateAfter?: number | null | undefined
  /** Seconds a new key is published before it signs; a first key always signs at once. */
  lead: number
}

/** What to do about the ring's signing key at `now`. */
export type SigningKeyDecision<R> =
  /** The key signing now, or the one scheduled to, is the right one. */
  | { action: 'keep'; key: R }
  /** Make a key signing from `activatesAt`; `replaces`: it rotates a signing key out, else it is the first. */
  | { action: 'create'; activatesAt: Date; replaces: boolean }

/** Decides, from the live keys (newest first) at `now`, whether a new signing key must be made. */
export function decideSigningKey<A extends string, R extends KeySchedule & { alg: string }>(
  live: readonly R[],
  now: Date,
  rules: SigningKeyRules<A>,
): SigningKeyDecision<R> {
  const signing = signingRowAt(live, now)
  if (!signing) return { action: 'create', activatesAt: now, replaces: false }
  const pending = live.find((row) => row.activatesAt > now)
  const upToDate =
    !rules.rotate &&
    (pending
      ? pending.alg === rules.alg
      : signing.alg === rules.alg && !rotationDue(signing, now, rules.rotateAfter ?? null, rules.lead))
  if (upToDate) return { action: 'keep', key: pending ?? signing }
  return { action: 'create', activatesAt: new Date(now.getTime() + rules.lead * 1000), replaces: true }
}

/**
 * The time before which a retired key leaves the JWKS. It stays while a token it signed may live:
 * that token's lifetime, plus the time other instances may go on signing with it before they
 * reload, plus a minute of margin.
 */
export const publishedSince = (
  now: Date,
  config: Pick<Config, 'accessTokenTtl' | 'keyRefreshInterval'>,
): Date => new Date(now.getTime() - (config.accessTokenTtl + config.keyRefreshInterval + 60) * 1000)

/** Milliseconds between re-reads of the ring for an unknown kid, so forged kids cannot load the database. */
export const UNKNOWN_KID_RELOAD_MS = 5000

/** Whether a token naming a kid not in the ring may re-read the ring at `now`. */
export const mayReloadForUnknownKid = (now: Date, lastReloadMs: number): boolean =>
  now.getTime() - lastReloadMs > UNKNOWN_KID_RELOAD_MS
