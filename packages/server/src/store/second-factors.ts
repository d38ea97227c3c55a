import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import type { Db } from './db.js'
import { type TotpFactorRecord, toTotpFactor } from './records.js'

export interface SecondFactorStore {
  /** The user's TOTP factor, pending or confirmed. */
  findTotp(userId: string): Promise<TotpFactorRecord | undefined>
  /**
   * Keeps a new pending secret, replacing a pending one (a setup started again); answers false and
   * changes nothing when the user's TOTP is already confirmed.
   */
  savePendingTotp(userId: string, secretSealed: string, at: Date): Promise<boolean>
  /** Confirms the pending factor with the step of its first code; false when none is pending. */
  confirmTotp(userId: string, step: number, at: Date): Promise<boolean>
  /**
   * Records `step` as the last one used, only if it is later than the last used: false for a code
   * of a step already used (a replay), so two requests with one code cannot both pass.
   */
  useTotpStep(userId: string, step: number): Promise<boolean>
  /** Removes the TOTP factor and every recovery code; whether there was a factor. */
  removeTotp(userId: string): Promise<boolean>
  /** Replaces the user's recovery codes (their SHA-256) with new ones: the old ones are void. */
  replaceRecoveryCodes(userId: string, hashes: Uint8Array[], at: Date): Promise<void>
  /** Spends an unused recovery code: false when it is unknown or used. */
  useRecoveryCode(userId: string, hash: Uint8Array, at: Date): Promise<boolean>
  /** How many unused recovery codes the user has. */
  countRecoveryCodes(userId: string): Promise<number>
  /** Every stored TOTP secret, sealed (a secret rotation re-encrypts them). */
  listTotpSecrets(): Promise<{ userId: string; secretSealed: string }[]>
  /** Replaces a sealed secret by the same secret sealed anew, unless it changed meanwhile. */
  resealTotpSecret(userId: string, from: string, to: string): Promise<boolean>
  /**
   * Removes every factor (TOTP, passkeys), recovery code, pending second-factor sign-in and WebAuthn
   * challenge of the user (an operator's reset).
   */
  removeAll(userId: string): Promise<{ totp: boolean; recoveryCodes: number; passkeys: number }>
}

export function createSecondFactorStore(db: Db): SecondFactorStore {
  return {
    async findTotp(userId) {
      const row = await db
        .selectFrom('totp_factors')
        .selectAll()
        .where('user_id', '=', userId)
        .executeTakeFirst()
      return row && toTotpFactor(row)
    },
    async savePendingTotp(userId, secretSealed, at) {
      const row = await db
        .insertInto('totp_factors')
        .values({ user_id: userId, secret_sealed: secretSealed, created_at: at, confirmed_at: null })
        .onConflict((oc) =>
          oc
            .column('user_id')
            .doUpdateSet({ secret_sealed: secretSealed, last_used_step: null })
            .where('totp_factors.confirmed_at', 'is', null),
        )
        .returning('user_id')
        .executeTakeFirst()
      return row !== undefined
    },
    async confirmTotp(userId, step, at) {
      const result = await db
        .updateTable('totp_factors')
        .set({ confirmed_at: at, last_used_step: step })
        .where('user_id', '=', userId)
        .where('confirmed_at', 'is', null)
        .executeTakeFirst()
      return result.numUpdatedRows > 0n
    },
    async useTotpStep(userId, step) {
      const result = await db
        .updateTable('totp_factors')
        .set({ last_used_step: step })
        .where('user_id', '=', userId)
        .where(sql<boolean>`(last_used_step is null or last_used_step < ${step})`)
        .executeTakeFirst()
      return result.numUpdatedRows > 0n
    },
    async removeTotp(userId) {
      const result = await db.deleteFrom('totp_factors').where('user_id', '=', userId).executeTakeFirst()
      await db.deleteFrom('recovery_codes').where('user_id', '=', userId).execute()
      return result.numDeletedRows > 0n
    },
    async replaceRecoveryCodes(userId, hashes, at) {
      await db.deleteFrom('recovery_codes').where('user_id', '=', userId).execute()
      if (hashes.length === 0) return
      await db
        .insertInto('recovery_codes')
        .values(
          hashes.map((hash) => ({ id: randomUUID(), user_id: userId, code_hash: hash, created_at: at })),
        )
        .execute()
    },
    async useRecoveryCode(userId, hash, at) {
      const result = await db
        .updateTable('recovery_codes')
        .set({ used_at: at })
        .where('user_id', '=', userId)
        .where('code_hash', '=', hash)
        .where('used_at', 'is', null)
        .executeTakeFirst()
      return result.numUpdatedRows > 0n
    },
    async countRecoveryCodes(userId) {
      const row = await db
        .selectFrom('recovery_codes')
        .select((eb) => eb.fn.countAll<string | number | bigint>().as('count'))
        .where('user_id', '=', userId)
        .where('used_at', 'is', null)
        .executeTakeFirstOrThrow()
      return Number(row.count)
    },
    async listTotpSecrets() {
      const rows = await db.selectFrom('totp_factors').select(['user_id', 'secret_sealed']).execute()
      return rows.map((row) => ({ userId: row.user_id, secretSealed: row.secret_sealed }))
    },
    async resealTotpSecret(userId, from, to) {
      const result = await db
        .updateTable('totp_factors')
        .set({ secret_sealed: to })
        .where('user_id', '=', userId)
        .where('secret_sealed', '=', from)
        .executeTakeFirst()
      return result.numUpdatedRows > 0n
    },
    async removeAll(userId) {
      const totp = await db.deleteFrom('totp_factors').where('user_id', '=', userId).executeTakeFirst()
      const codes = await db.deleteFrom('recovery_codes').where('user_id', '=', userId).executeTakeFirst()
      const passkeys = await db.deleteFrom('passkeys').where('user_id', '=', userId).executeTakeFirst()
      // the challenges of pending sign-ins go with their mfaTokens (the foreign key cascades)
      await db.deleteFrom('webauthn_challenges').where('user_id', '=', userId).execute()
      await db.deleteFrom('mfa_tokens').where('user_id', '=', userId).execute()
      return {
        totp: totp.numDeletedRows > 0n,
        recoveryCodes: Number(codes.numDeletedRows),
        passkeys: Number(passkeys.numDeletedRows),
      }
    },
  }
}
