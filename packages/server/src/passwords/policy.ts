import type { ZxcvbnFactory } from '@zxcvbn-ts/core'
import type { Config } from '../config.js'
import { TesseraError } from '../errors.js'

export type PasswordPolicyConfig = Pick<
  Config,
  'passwordMinLength' | 'passwordMaxLength' | 'passwordMinScore'
>

export interface PasswordPolicy {
  /**
   * Throws VALIDATION_FAILED outside the length bounds, WEAK_PASSWORD for a password that contains
   * the email's local part or that the estimator scores below the configured strength.
   */
  check(password: string, about: { email: string; name?: string | null }): Promise<void>
}

// the estimator reads this many characters: longer passwords are strong by length, and its cost
// grows with length on the event loop
const ESTIMATED_LENGTH = 100

/**
 * The estimator with its dictionaries, loaded at the first password it checks: about 40 MB and
 * 150 ms that a server which only signs people in and refreshes never needs. One per process: the
 * dictionaries never change, and every server in it (tests start hundreds) shares them.
 */
let estimator: Promise<ZxcvbnFactory> | undefined

/** {@link loadEstimator} once per process; a failed load is tried again at the next check, not kept. */
function sharedEstimator(): Promise<ZxcvbnFactory> {
  estimator ??= loadEstimator().catch((error: unknown) => {
    estimator = undefined
    throw error
  })
  return estimator
}

async function loadEstimator(): Promise<ZxcvbnFactory> {
  const [{ ZxcvbnFactory }, common, en] = await Promise.all([
    import('@zxcvbn-ts/core'),
    import('@zxcvbn-ts/language-common'),
    import('@zxcvbn-ts/language-en'),
  ])
  return new ZxcvbnFactory({
    translations: en.translations,
    graphs: common.adjacencyGraphs,
    // the most common passwords, names and words: what credential stuffing tries first
    dictionary: { ...common.dictionary, ...en.dictionary },
    maxLength: ESTIMATED_LENGTH,
  })
}

/** The password policy of register, reset and change; the estimator is built once, when first needed. */
export function createPasswordPolicy(config: PasswordPolicyConfig): PasswordPolicy {
  return {
    async check(password, about) {
      const length = [...password].length
      if (length < config.passwordMinLength || length > config.passwordMaxLength) {
        throw new TesseraError('VALIDATION_FAILED', {
          errors: [
            {
              field: 'password',
              message: `must be ${config.passwordMinLength} to ${config.passwordMaxLength} characters`,
            },
          ],
        })
      }
      const local = about.email.split('@')[0]?.toLowerCase() ?? ''
      if (local.length >= 3 && password.toLowerCase().includes(local)) {
        throw new TesseraError('WEAK_PASSWORD', {
          detail: `Your password must not contain your email address or its first part ("${local}"). Choose something unrelated to it.`,
        })
      }
      if (config.passwordMinScore <= 0) return
      const userInputs = [about.email, local, ...(about.name ? [about.name] : [])]
      const result = (await sharedEstimator()).check(password, userInputs)
      if (result.score >= config.passwordMinScore) return
      const hints = [result.feedback.warning, ...result.feedback.suggestions].filter(
        (hint): hint is string => typeof hint === 'string' && hint !== '',
      )
      throw new TesseraError('WEAK_PASSWORD', {
        detail: `This password is too easy to guess. ${
          hints.length > 0 ? hints.join(' ') : 'Use a longer passphrase of several unrelated words.'
        }`,
      })
    },
  }
}
