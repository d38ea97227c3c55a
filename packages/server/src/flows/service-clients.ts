import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { TesseraError } from '../errors.js'
import { parseScope } from '../scope.js'
import type { ServiceClientRecord } from '../store/records.js'
import { nextWholeSecond } from '../store/revocation-events.js'
import type { Stores } from '../store/stores.js'
import { unstorableText } from '../text.js'
import { SERVICE_CLIENT_ID } from '../tokens/service-token.js'
import type { FlowDeps } from './deps.js'

/*
 * Service credentials: an id (`svc_…`) and a secret of 256 random bits, shown once. Only the
 * secret's SHA-256 is stored: with that much entropy there is nothing to guess, so a slow password
 * hash (argon2) would only cost time on every call.
 */

/** Longest client name: a label for the operator. */
const MAX_NAME_LENGTH = 100

const sha256 = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest()

// compared against when the id is unknown, so an unknown id costs what a wrong secret costs
const DUMMY_HASH = sha256(randomBytes(32).toString('base64url'))

/** How often a client's `lastUsedAt` moves at most: a busy client costs no write per call. */
const LAST_USED_RESOLUTION_MS = 60_000

export interface NewServiceClientInput {
  name: string
  /** Space-separated scopes (RFC 6749 §3.3); empty for none. */
  scope: string
}

export interface CreatedServiceClient {
  client: ServiceClientRecord
  /** base64url, 43 characters: shown to the operator once, never stored. */
  secret: string
}

/** Creates a client (`tessera clients create`); the secret is in the answer and nowhere else. */
export async function createServiceClient(
  deps: Pick<FlowDeps, 'stores' | 'clock'>,
  input: NewServiceClientInput,
): Promise<CreatedServiceClient> {
  const name = input.name.trim().normalize('NFC')
  const badName =
    name === ''
      ? 'must not be empty'
      : name.length > MAX_NAME_LENGTH
        ? `must be at most ${MAX_NAME_LENGTH} characters`
        : // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
          /[\u0000-\u001f\u007f]/.test(name)
          ? 'must not contain control characters'
          : unstorableText(name)
  if (badName) throw new TesseraError('VALIDATION_FAILED', { errors: [{ field: 'name', message: badName }] })
  const scopes = parseScope(input.scope)
  if (!Array.isArray(scopes)) {
    throw new TesseraError('VALIDATION_FAILED', { errors: [{ field: 'scope', message: scopes.invalid }] })
  }
  const secret = randomBytes(32).toString('base64url')
  const client = await deps.stores.serviceClients.create({
    id: `svc_${randomBytes(16).toString('base64url')}`,
    name,
    secretHash: sha256(secret),
    scopes,
    createdAt: deps.clock.now(),
  })
  return { client, secret }
}

/** Every client, revoked ones too, oldest first; never a secret or its hash. */
export const listServiceClients = (stores: Stores): Promise<ServiceClientRecord[]> =>
  stores.serviceClients.list()

/**
 * Revokes a client (`tessera clients revoke`): it can no longer authenticate, and its tokens stop
 * at once: in the same transaction, a `user` revocation event with `sub` = the client id makes
 * every token issued before the next whole second stale for the services following the feed, and
 * introspection answers inactive (it checks the client). `changed` is false when it was revoked already.
 */
export async function revokeServiceClient(
  deps: Pick<FlowDeps, 'stores' | 'clock'> & { config: Pick<FlowDeps['config'], 'serviceTokenTtl'> },
  id: string,
): Promise<{ client: ServiceClientRecord; changed: boolean }> {
  const now = deps.clock.now()
  return deps.stores.transaction(async (tx) => {
    const found = SERVICE_CLIENT_ID.test(id) ? await tx.serviceClients.findById(id) : undefined
    if (!found) throw new TesseraError('NOT_FOUND', { detail: `No service client with id ${id}.` })
    const changed = await tx.serviceClients.revoke(id, now)
    if (changed) {
      const notBefore = nextWholeSecond(now)
      await tx.revocationEvents.appendUserEvent({
        sub: id,
        notBefore,
        expiresAt: new Date(notBefore.getTime() + deps.config.serviceTokenTtl * 1000),
        at: now,
      })
    }
    return { client: { ...found, revokedAt: found.revokedAt ?? now }, changed }
  })
}

/**
 * The client when `clientSecret` is its secret and it is not revoked; undefined otherwise, alike
 * for an unknown id, a wrong secret and a revoked client. The SHA-256 of the presented secret is
 * compared in constant time, against a dummy hash for an unknown id, so the answer's timing does
 * not tell which ids exist.
 */
export async function verifyClientSecret(
  stores: Stores,
  clientId: string,
  clientSecret: string,
): Promise<ServiceClientRecord | undefined> {
  // an id we never made is not looked up (it may hold anything, U+0000 included), but still hashed
  const found = SERVICE_CLIENT_ID.test(clientId)
    ? await stores.serviceClients.findWithSecretHash(clientId)
    : undefined
  const stored = found && found.secretHash.length === DUMMY_HASH.length ? found.secretHash : DUMMY_HASH
  const matches = timingSafeEqual(sha256(clientSecret), stored)
  if (!found || !matches || found.client.revokedAt !== null) return undefined
  return found.client
}

/** Records that `client` authenticated now, at most once a minute (`clients list` shows it). */
export async function recordClientUse(
  deps: Pick<FlowDeps, 'stores' | 'clock'>,
  client: ServiceClientRecord,
): Promise<void> {
  const now = deps.clock.now()
  const before = new Date(now.getTime() - LAST_USED_RESOLUTION_MS)
  if (client.lastUsedAt !== null && client.lastUsedAt >= before) return
  await deps.stores.serviceClients.markUsed(client.id, now, before)
}
