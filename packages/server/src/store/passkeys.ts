import { sql } from 'kysely'
import type { Db } from './db.js'
import { type PasskeyRecord, toPasskey } from './records.js'

/** A passkey as a registration stores it. */
export type NewPasskey = Omit<PasskeyRecord, 'lastUsedAt'>

export interface PasskeyStore {
  /** Stores a new passkey; false (and nothing stored) when its credential id is registered already. */
  insert(passkey: NewPasskey): Promise<boolean>
  /** The user's passkeys, oldest first. */
  listForUser(userId: string): Promise<PasskeyRecord[]>
  countForUser(userId: string): Promise<number>
  /** The passkey of a credential id, whoever's it is. */
  findByCredentialId(credentialId: string): Promise<PasskeyRecord | undefined>
  /**
   * Records a use: the new signature counter, the backup state and the time. Only when the counter
   * moves forward from what it was (or stays 0 for an authenticator that keeps none), so of two
   * assertions racing with one counter value only one passes, and a clone's older counter never.
   */
  recordUse(id: string, use: { counter: number; backedUp: boolean; at: Date }): Promise<boolean>
  /** Removes a passkey of the user; false when the user has none with this id. */
  remove(userId: string, id: string): Promise<boolean>
}

export function createPasskeyStore(db: Db): PasskeyStore {
  return {
    async insert(passkey) {
      const row = await db
        .insertInto('passkeys')
        .values({
          id: passkey.id,
          user_id: passkey.userId,
          credential_id: passkey.credentialId,
          public_key: passkey.publicKey,
          counter: passkey.counter,
          transports: passkey.transports,
          device_type: passkey.deviceType,
          backed_up: passkey.backedUp,
          name: passkey.name,
          created_at: passkey.createdAt,
          last_used_at: null,
        })
        .onConflict((oc) => oc.column('credential_id').doNothing())
        .returning('id')
        .executeTakeFirst()
      return row !== undefined
    },
    async listForUser(userId) {
      const rows = await db
        .selectFrom('passkeys')
        .selectAll()
        .where('user_id', '=', userId)
        .orderBy('created_at')
        .orderBy('id')
        .execute()
      return rows.map(toPasskey)
    },
    async countForUser(userId) {
      const row = await db
        .selectFrom('passkeys')
        .select((eb) => eb.fn.countAll<string | number | bigint>().as('count'))
        .where('user_id', '=', userId)
        .executeTakeFirstOrThrow()
      return Number(row.count)
    },
    async findByCredentialId(credentialId) {
      const row = await db
        .selectFrom('passkeys')
        .selectAll()
        .where('credential_id', '=', credentialId)
        .executeTakeFirst()
      return row && toPasskey(row)
    },
    async recordUse(id, use) {
      const result = await db
        .updateTable('passkeys')
        .set({ counter: use.counter, backed_up: use.backedUp, last_used_at: use.at })
        .where('id', '=', id)
        .where(sql<boolean>`(counter < ${use.counter} or (counter = 0 and ${use.counter}::bigint = 0))`)
        .executeTakeFirst()
      return result.numUpdatedRows > 0n
    },
    async remove(userId, id) {
      const result = await db
        .deleteFrom('passkeys')
        .where('id', '=', id)
        .where('user_id', '=', userId)
        .executeTakeFirst()
      return result.numDeletedRows > 0n
    },
  }
}
