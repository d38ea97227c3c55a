import type { Clock } from '../../clock.js'
import { seal, unseal } from '../../keys/secret.js'

/** Seconds a started provider sign-in may take to come back: the state cookie's life. */
export const SIGN_IN_STATE_TTL = 600

/** How a sign-in returns: a session by cookie, a one-time code, or (while signed in) a code that links. */
export const SIGN_IN_MODES = ['cookie', 'code', 'link'] as const
export type SignInMode = (typeof SIGN_IN_MODES)[number]

/** What a provider sign-in's start hands to its callback, sealed in a cookie of the browser that started it. */
export interface SignInState {
  /** The provider it was started for: a state for one provider opens at no other's callback. */
  provider: string
  state: string
  nonce: string
  /** Tessera's own PKCE verifier at the provider. */
  codeVerifier: string
  redirectTo: string
  mode: SignInMode
  /** The app's S256 challenge, whose verifier alone exchanges the one-time code. */
  codeChallenge: string | null
  /** `link`: the signed-in user who asked to link; only they complete it. */
  userId: string | null
  /** Unix milliseconds after which the state opens no more. */
  expiresAt: number
}

/**
 * Seals the state (A256GCM under a key of its own derived from TESSERA_SECRET): the browser holds
 * it and can neither read the verifier nor change the redirect target.
 */
export const sealSignInState = (key: Uint8Array, state: SignInState): Promise<string> =>
  seal(key, JSON.stringify(state))

/** The state sealed in `sealed` if it opens, is for `provider` and is not expired; else undefined. */
export async function openSignInState(
  key: Uint8Array,
  sealed: string | undefined,
  provider: string,
  clock: Clock,
): Promise<SignInState | undefined> {
  if (sealed === undefined || sealed === '' || sealed.length > 4096) return undefined
  let state: unknown
  try {
    state = JSON.parse(await unseal(key, sealed))
  } catch {
    // altered, or sealed under another secret: no state
    return undefined
  }
  if (!isSignInState(state)) return undefined
  if (state.provider !== provider || state.expiresAt <= clock.now().getTime()) return undefined
  return state
}

function isSignInState(value: unknown): value is SignInState {
  if (typeof value !== 'object' || value === null) return false
  const record = value as Record<string, unknown>
  return (
    ['provider', 'state', 'nonce', 'codeVerifier', 'redirectTo'].every(
      (key) => typeof record[key] === 'string',
    ) &&
    (SIGN_IN_MODES as readonly unknown[]).includes(record.mode) &&
    (record.codeChallenge === null || typeof record.codeChallenge === 'string') &&
    (record.userId === null || typeof record.userId === 'string') &&
    typeof record.expiresAt === 'number'
  )
}
