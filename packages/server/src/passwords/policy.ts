import { ZxcvbnFactory } from '@zxcvbn-ts/core'
import * as common from '@zxcvbn-ts/language-common'
import * as en from '@zxcvbn-ts/language-en'
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
  check(password: string, about: { email: string; name?: string | null }): void
}

// the estimator reads this many characters: longer passwords are strong by length, and its cost
// grows with length on the event loop
const ESTIMATED_LENGTH = 100

/** The password policy of register, reset and change, built once (the dictionaries take ~150 ms). */
export function createPasswordPolicy(config: PasswordPolicyConfig): PasswordPolicy {
  const estimator =
    config.passwordMinScore > 0
      ? new ZxcvbnFactory({
          translations: en.translations,
          graphs: common.adjacencyGraphs,
          // the most common passwords, names and words: what credential stuffing tries first
          dictionary: { ...common.dictionary, ...en.dictionary },
          maxLength: ESTIMATED_LENGTH,
        })
      : undefined

  return {
    check(password, about) {
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
      if (!estimator) return
      const userInputs = [about.email, local, ...(about.name ? [about.name] : [])]
      const result = estimator.check(password, userInputs)
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
