import { sql } from 'kysely'
import type { Db } from './db.js'
import { type ServiceClientRecord, toServiceClient } from './records.js'

export interface NewServiceClient {
  id: string
  name: string
  /** SHA-256 of the secret; the secret itself is shown once and never stored. */
  secretHash: Uint8Array
  scopes: string[]
  createdAt: Date
}

export interface ServiceClientStore {
  create(client: NewServiceClient): Promise<ServiceClientRecord>
  /** The client, revoked or not. */
  findById(id: string): Promise<ServiceClientRecord | undefined>
  /** The client with its secret's hash, for the verification that compares it (flows/service-clients.ts). */
  findWithSecretHash(id: string): Promise<{ client: ServiceClientRecord; secretHash: Uint8Array } | undefined>
  /** Every client, revoked ones too, oldest first. */
  list(): Promise<ServiceClientRecord[]>
  /** Marks a live client revoked; answers whether it was live (false: unknown or revoked already). */
  revoke(id: string, at: Date): Promise<boolean>
  /** Records a use, unless one at or after `ifBefore` is recorded already. */
  markUsed(id: string, at: Date, ifBefore: Date): Promise<void>
}

export function createServiceClientStore(db: Db): ServiceClientStore {
  return {
    async create(client) {
      const row = await db
        .insertInto('service_clients')
        .values({
          id: client.id,
          name: client.name,
          secret_hash: client.secretHash,
          scopes: client.scopes,
          created_at: client.createdAt,
        })
        .returningAll()
        .executeTakeFirstOrThrow()
      return toServiceClient(row)
    },
    async findById(id) {
      const row = await db.selectFrom('service_clients').selectAll().where('id', '=', id).executeTakeFirst()
      return row && toServiceClient(row)
    },
    async findWithSecretHash(id) {
      const row = await db.selectFrom('service_clients').selectAll().where('id', '=', id).executeTakeFirst()
      return row && { client: toServiceClient(row), secretHash: row.secret_hash }
    },
    async list() {
      const rows = await db
        .selectFrom('service_clients')
        .selectAll()
        .orderBy('created_at')
        .orderBy('id')
        .execute()
      return rows.map(toServiceClient)
    },
    async revoke(id, at) {
      const result = await db
        .updateTable('service_clients')
        .set({ revoked_at: at })
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
        .executeTakeFirst()
      return result.numUpdatedRows > 0n
    },
    async markUsed(id, at, ifBefore) {
      await db
        .updateTable('service_clients')
        .set({ last_used_at: at })
        .where('id', '=', id)
        .where(sql<boolean>`last_used_at is null or last_used_at < ${ifBefore}`)
        .execute()
    },
  }
}
