import { sql } from 'kysely'
import type { Db } from './db.js'
import { type SigningKeyRecord, toSigningKey } from './records.js'

export type NewSigningKey = Omit<SigningKeyRecord, 'retiredAt'>

export interface SigningKeyStore {
  /** Keys not retired, or retired after `retiredAfter` (their tokens may still be alive). */
  listPublishable(retiredAfter: Date): Promise<SigningKeyRecord[]>
  /** Every key, retired ones too, newest activation first. */
  listAll(): Promise<SigningKeyRecord[]>
  /**
   * Runs `decide` under a database-wide lock on the key ring, so two instances or a CLI do not
   * create or rotate keys at the same time. `decide` sees the unretired keys and may insert one.
   */
  withRingLock<T>(decide: (ring: KeyRingTx) => Promise<T>): Promise<T>
}

export interface KeyRingTx {
  /** Keys not retired at `now` (signing, or scheduled to), newest activation first. */
  live(now: Date): Promise<SigningKeyRecord[]>
  insert(key: NewSigningKey): Promise<void>
  /** Retires every other key at `at` (a time in the future schedules it), earlier ones kept. */
  retireAllExcept(kid: string, at: Date): Promise<void>
  /** Every key, retired ones too, newest activation first. */
  all(): Promise<SigningKeyRecord[]>
  /** Replaces a key's sealed private half (re-encrypted under a new secret). */
  setPrivateJwe(kid: string, privateJwe: string): Promise<void>
}

/** Keys not retired at `at` (never retired, or retiring later), newest activation first. */
async function notRetiredBy(db: Db, at: Date): Promise<SigningKeyRecord[]> {
  const rows = await db
    .selectFrom('signing_keys')
    .selectAll()
    .where((eb) => eb.or([eb('retired_at', 'is', null), eb('retired_at', '>', at)]))
    .orderBy('activates_at', 'desc')
    .execute()
  return rows.map(toSigningKey)
}

export function createSigningKeyStore(db: Db): SigningKeyStore {
  return {
    listPublishable: (retiredAfter) => notRetiredBy(db, retiredAfter),
    listAll: async () =>
      (await db.selectFrom('signing_keys').selectAll().orderBy('activates_at', 'desc').execute()).map(
        toSigningKey,
      ),
    withRingLock: (decide) =>
      db.transaction().execute(async (trx) => {
        await sql`select pg_advisory_xact_lock(hashtext('tessera.signing_keys'))`.execute(trx)
        return decide({
          live: (now) => notRetiredBy(trx, now),
          insert: async (key) => {
            await trx
              .insertInto('signing_keys')
              .values({
                kid: key.kid,
                alg: key.alg,
                public_jwk: JSON.stringify(key.publicJwk),
                private_jwe: key.privateJwe,
                created_at: key.createdAt,
                activates_at: key.activatesAt,
              })
              .execute()
          },
          retireAllExcept: async (kid, at) => {
            await trx
              .updateTable('signing_keys')
              .set({ retired_at: at })
              .where((eb) => eb.or([eb('retired_at', 'is', null), eb('retired_at', '>', at)]))
              .where('kid', '!=', kid)
              .execute()
          },
          all: async () =>
            (await trx.selectFrom('signing_keys').selectAll().orderBy('activates_at', 'desc').execute()).map(
              toSigningKey,
            ),
          setPrivateJwe: async (kid, privateJwe) => {
            await trx
              .updateTable('signing_keys')
              .set({ private_jwe: privateJwe })
              .where('kid', '=', kid)
              .execute()
          },
        })
      }),
  }
}
