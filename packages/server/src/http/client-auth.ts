import type { FastifyRequest } from 'fastify'
import { OAuthError } from '../errors.js'
import { verifyClientSecret } from '../flows/service-clients.js'
import type { ServiceClientRecord } from '../store/records.js'
import type { Stores } from '../store/stores.js'

/** Credentials as presented, not yet checked. */
export interface ClientCredentials {
  clientId: string
  clientSecret: string
}

// RFC 7617 token68 after the scheme: standard base64, padding optional
const BASIC = /^basic +([A-Za-z0-9+/]+=*) *$/i

/**
 * The client id and secret of an `Authorization: Basic` header, each form-urlencoded inside the
 * base64 as RFC 6749 §2.3.1 says (`urlencode(id):urlencode(secret)`, so `+` is a space). Undefined
 * when there is no header or it names another scheme; 'malformed' when it is Basic and cannot be
 * read (bad base64, no colon, an empty part, a bad percent-escape, bytes that are not UTF-8).
 */
export function parseBasicAuthorization(
  header: string | undefined,
): ClientCredentials | undefined | 'malformed' {
  if (header === undefined || !/^basic(\s|$)/i.test(header)) return undefined
  const match = BASIC.exec(header)
  if (!match?.[1]) return 'malformed'
  const bytes = Buffer.from(match[1], 'base64')
  let decoded: string
  try {
    decoded = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    return 'malformed'
  }
  const colon = decoded.indexOf(':')
  if (colon <= 0) return 'malformed'
  const clientId = formDecode(decoded.slice(0, colon))
  const clientSecret = formDecode(decoded.slice(colon + 1))
  if (!clientId || !clientSecret) return 'malformed'
  return { clientId, clientSecret }
}

function formDecode(text: string): string | undefined {
  try {
    return decodeURIComponent(text.replaceAll('+', ' '))
  } catch {
    return undefined
  }
}

/** Whether the request carries more than one Authorization header (Node keeps only the first). */
function repeatedAuthorization(request: FastifyRequest): boolean {
  const raw = request.raw.rawHeaders
  let count = 0
  for (let i = 0; i < raw.length; i += 2) if (raw[i]?.toLowerCase() === 'authorization') count++
  return count > 1
}

/** The `client_id` and `client_secret` fields of a form body (RFC 6749 §2.3.1), if it has any. */
function formCredentials(body: unknown): { clientId?: string; clientSecret?: string } | undefined {
  if (typeof body !== 'object' || body === null) return undefined
  const fields = body as Record<string, unknown>
  const clientId = typeof fields.client_id === 'string' ? fields.client_id : undefined
  const clientSecret = typeof fields.client_secret === 'string' ? fields.client_secret : undefined
  if (clientId === undefined && clientSecret === undefined) return undefined
  return { clientId, clientSecret }
}

const invalidClient = () => new OAuthError('invalid_client', 'Client authentication failed.')

/**
 * Authenticates the client of an OAuth request: HTTP Basic or the `client_id` and
 * `client_secret` form fields, exactly one of them (both at once is `invalid_request`, RFC 6749
 * §2.3). Anything else (no credentials, a malformed header, an unknown id, a wrong secret, a
 * revoked client) is `invalid_client`, the same answer for each.
 */
export async function authenticateClient(
  request: FastifyRequest,
  stores: Stores,
): Promise<ServiceClientRecord> {
  if (repeatedAuthorization(request)) {
    throw new OAuthError('invalid_request', 'Send one Authorization header.')
  }
  const basic = parseBasicAuthorization(request.headers.authorization)
  const form = formCredentials(request.body)
  if (basic !== undefined && form !== undefined) {
    throw new OAuthError(
      'invalid_request',
      'Authenticate the client with one method: Basic or the form fields.',
    )
  }
  if (basic === 'malformed') throw invalidClient()
  const presented = basic ?? form
  if (!presented?.clientId || !presented.clientSecret) throw invalidClient()
  const client = await verifyClientSecret(stores, presented.clientId, presented.clientSecret)
  if (!client) throw invalidClient()
  return client
}
