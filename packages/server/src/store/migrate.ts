import { type Kysely, type Migration, type MigrationResult, Migrator } from 'kysely'
import * as initial from './migrations/0001-initial.js'
import * as oneTimeTokens from './migrations/0002-one-time-tokens.js'
import * as rateLimits from './migrations/0003-rate-limits.js'
import * as authEvents from './migrations/0004-auth-events.js'
import * as mailboxKeys from './migrations/0005-mailbox-keys.js'
import * as revocationEvents from './migrations/0006-revocation-events.js'
import * as serviceClients from './migrations/0007-service-clients.js'
import * as sessionAuth from './migrations/0008-session-auth.js'
import * as secondFactors from './migrations/0009-second-factors.js'
import * as optionalPassword from './migrations/0010-optional-password.js'
import * as enrolmentTokens from './migrations/0011-enrolment-tokens.js'
import * as passkeys from './migrations/0012-passkeys.js'
import * as identities from './migrations/0013-identities.js'
import * as appMetadataForImport from './migrations/0016-app-metadata-for-import.js'

/** Every migration, in order. Listed in code so the built package needs no migrations folder. */
const MIGRATIONS = {
  '0001-initial': initial,
  '0002-one-time-tokens': oneTimeTokens,
  '0003-rate-limits': rateLimits,
  '0004-auth-events': authEvents,
  '0005-mailbox-keys': mailboxKeys,
  '0006-revocation-events': revocationEvents,
  '0007-service-clients': serviceClients,
  '0008-session-auth': sessionAuth,
  '0009-second-factors': secondFactors,
  '0010-optional-password': optionalPassword,
  '0011-enrolment-tokens': enrolmentTokens,
  '0012-passkeys': passkeys,
  '0013-identities': identities,
  '0016-app-metadata-for-import': appMetadataForImport,
} satisfies Record<string, Migration>

/**
 * Applies pending migrations. On PostgreSQL Kysely takes an advisory lock inside one transaction,
 * so two instances starting at once apply each migration exactly once.
 */
// biome-ignore lint/suspicious/noExplicitAny: the migrator works on any schema
export async function migrateToLatest(db: Kysely<any>): Promise<MigrationResult[]> {
  const { error, results = [] } = await migrator(db).migrateToLatest()
  if (error) throw error
  return results
}

/** Applies migrations up to and including `name` only: tests of a migration start from before it. */
// biome-ignore lint/suspicious/noExplicitAny: the migrator works on any schema
export async function migrateTo(db: Kysely<any>, name: keyof typeof MIGRATIONS): Promise<void> {
  const { error } = await migrator(db).migrateTo(name)
  if (error) throw error
}

// biome-ignore lint/suspicious/noExplicitAny: the migrator works on any schema
function migrator(db: Kysely<any>): Migrator {
  return new Migrator({
    db,
    provider: { getMigrations: async () => MIGRATIONS },
    migrationTableName: 'tessera_migrations',
    migrationLockTableName: 'tessera_migrations_lock',
  })
}
