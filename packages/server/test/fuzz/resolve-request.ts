import type { CredentialPool, PoolAccess, SentCredentials } from './credential-pool.js'
import { REFRESH_COOKIE } from './credential-pool.js'
import { type MintContext, mintToken, mustRefuse } from './forged-token.js'
import { isJsonObject, type OpenApiDocument, type Operation } from './openapi-document.js'
import {
  type AuthPlan,
  type BodyPlan,
  type CookiePlan,
  encodeSegment,
  type ParamPlan,
  type QueryPlan,
  type RequestPlan,
} from './request-plan.js'

/** A request ready for `app.inject`, with what it carried from the pool. */
export interface ResolvedRequest {
  method: string
  url: string
  headers: Record<string, string>
  payload: string | Buffer | undefined
  /** The operation of the document it exercises; undefined for routes the document does not list. */
  operation: Operation | undefined
  /** Path parameters as the server should decode them; undefined where the URL does not decode. */
  pathParams: Record<string, string | undefined>
  /** Why the Authorization header must not open a secured route; undefined for a genuine token. */
  forged: string | undefined
  sent: SentCredentials
}

export interface ResolveContext {
  document: OpenApiDocument
  pool: CredentialPool
  mint: MintContext
  metricsToken: string
}

const ZERO_UUID = '00000000-0000-4000-8000-000000000000'

function paramText(plan: ParamPlan, pool: CredentialPool): string {
  switch (plan.kind) {
    case 'value':
      return encodeSegment(plan.value)
    case 'raw':
      return plan.text
    case 'session':
      return pool.session(plan.pick) ?? ZERO_UUID
    case 'long':
      return plan.unit.startsWith('%')
        ? plan.unit.repeat(plan.length)
        : encodeSegment(plan.unit.repeat(plan.length))
  }
}

function queryText(plan: QueryPlan): string {
  const declared = Object.entries(plan.declared).map(
    ([key, value]) => `${encodeSegment(key)}=${encodeSegment(value)}`,
  )
  const parts = plan.raw === undefined ? declared : [...declared, plan.raw]
  return parts.length === 0 ? '' : `?${parts.join('&')}`
}

function decoded(text: string): string | undefined {
  try {
    return decodeURIComponent(text)
  } catch {
    return undefined
  }
}

function urlOf(
  plan: RequestPlan,
  operation: Operation | undefined,
  pool: CredentialPool,
  pathParams: Record<string, string | undefined>,
): string {
  if (plan.route.kind === 'other') return plan.route.url
  const path = (operation?.path ?? plan.route.path).replace(/\{([^}]+)\}/g, (_match, name: string) => {
    const param = plan.params[name]
    const text = param ? paramText(param, pool) : ZERO_UUID
    pathParams[name] = decoded(text)
    return text
  })
  return `${path}${queryText(plan.query)}`
}

/** Puts a pool user's email and password, a refresh token and a mailed token into the fields a body has. */
function filled(
  value: unknown,
  pick: number | undefined,
  pool: CredentialPool,
  sent: SentCredentials,
): unknown {
  if (pick === undefined || !isJsonObject(value)) return value
  const user = pool.user(pick)
  const refresh = pool.refresh(pick)
  const oneTimeToken = pool.oneTimeToken(pick)
  const result = { ...value }
  if (user && 'email' in result) result.email = user.email
  if (user && 'password' in result) result.password = user.password
  if (user && 'currentPassword' in result) result.currentPassword = user.password
  if (oneTimeToken && 'token' in result) result.token = oneTimeToken
  if (refresh && 'refreshToken' in result) {
    result.refreshToken = refresh
    sent.refresh.push(refresh)
  }
  return result
}

function payloadOf(plan: BodyPlan, value: unknown): string | Buffer | undefined {
  switch (plan.kind) {
    case 'none':
      return undefined
    case 'json':
      return JSON.stringify(value)
    case 'text':
      return plan.text
    case 'bytes':
      return Buffer.from(plan.bytes)
    case 'deep':
      return `${'{"a":'.repeat(plan.depth)}{}${'}'.repeat(plan.depth)}`
    case 'oversized':
      return JSON.stringify({ email: 'big@example.com', password: 'x'.repeat(plan.length), name: 'big' })
  }
}

function mangle(token: string, how: 'truncate' | 'append' | 'flip' | 'upper' | 'twice'): string {
  switch (how) {
    case 'truncate':
      return token.slice(0, -5)
    case 'append':
      return `${token}x`
    case 'flip': {
      const at = Math.floor(token.length * 0.75)
      const swapped = token[at] === 'A' ? 'B' : 'A'
      return `${token.slice(0, at)}${swapped}${token.slice(at + 1)}`
    }
    case 'upper':
      return token.toUpperCase()
    case 'twice':
      return `${token} ${token}`
  }
}

interface Authorization {
  header: string | undefined
  /** Why the header must not open a secured route; undefined for a token the server issued. */
  forged: string | undefined
}

function authorization(plan: AuthPlan, context: ResolveContext, sent: SentCredentials): Authorization {
  const none = { header: undefined, forged: 'no Authorization header' }
  switch (plan.kind) {
    case 'none':
      return none
    case 'pool': {
      const access: PoolAccess | undefined = context.pool.access(plan.pick)
      if (!access) return none
      sent.access = access
      return { header: `${plan.scheme} ${access.token}`, forged: undefined }
    }
    case 'mangled': {
      const access = context.pool.access(plan.pick)
      if (!access) return none
      return { header: `Bearer ${mangle(access.token, plan.how)}`, forged: `a real token, ${plan.how}` }
    }
    case 'raw':
      return { header: plan.value, forged: 'a made-up Authorization header' }
    case 'token': {
      const owner = context.pool.access(plan.token.owner)
      const token = mintToken(plan.token, context.mint, owner)
      // byte for byte the owner's token (a stolen signature over the very same claims) is genuine
      const forged = token === owner?.token ? undefined : mustRefuse(plan.token, context.mint.signing.alg)
      return { header: `Bearer ${token}`, forged }
    }
    case 'metrics':
      return { header: `Bearer ${context.metricsToken}`, forged: undefined }
  }
}

function cookieHeader(plan: CookiePlan, pool: CredentialPool, sent: SentCredentials): string | undefined {
  if (plan.kind === 'none') return undefined
  if (plan.kind === 'raw') return plan.header
  const refresh = pool.refresh(plan.pick)
  if (!refresh) return undefined
  sent.refresh.push(refresh)
  const real = `${REFRESH_COOKIE}=${refresh}`
  return plan.kind === 'twice' ? `${REFRESH_COOKIE}=garbage; ${real}` : real
}

// what an HTTP/1.1 parser lets through in a field value: tab, visible ASCII, obs-text
const NOT_ON_THE_WIRE = /[^\t\x20-\x7e\x80-\xff]/g

/**
 * A header value as a server behind a real socket would see it. `inject` hands strings over
 * untouched, but on the wire a value is bytes: Node's parser refuses NUL, CR, LF and other
 * controls (400 before any route runs) and reads the rest as Latin-1, trimming the edges.
 */
export function asOnTheWire(value: string): string {
  return Buffer.from(value, 'utf8')
    .toString('latin1')
    .replace(NOT_ON_THE_WIRE, '')
    .replace(/^[\t ]+|[\t ]+$/g, '')
}

/** Turns a plan into a concrete request against the pool as it is now. */
export function resolveRequest(plan: RequestPlan, context: ResolveContext): ResolvedRequest {
  const operation =
    plan.route.kind === 'operation' ? context.document.operations[plan.route.index] : undefined
  const method = plan.route.method
  const pathParams: Record<string, string | undefined> = {}
  const url = urlOf(plan, operation, context.pool, pathParams)
  const path = operation?.path ?? url.split('?')[0] ?? url
  const sent: SentCredentials = { method, path, body: undefined, access: undefined, refresh: [] }
  const value = plan.body.kind === 'json' ? filled(plan.body.value, plan.fill, context.pool, sent) : undefined
  sent.body = value
  const headers: Record<string, string> = { ...plan.headers }
  const auth = authorization(plan.auth, context, sent)
  if (auth.header !== undefined) headers.authorization = auth.header
  const cookie = cookieHeader(plan.cookie, context.pool, sent)
  if (cookie !== undefined) headers.cookie = cookie
  if (plan.origin !== undefined) headers.origin = plan.origin
  if (plan.body.contentType !== undefined) headers['content-type'] = plan.body.contentType
  for (const [name, header] of Object.entries(headers)) headers[name] = asOnTheWire(header)
  const payload = payloadOf(plan.body, value)
  return { method, url, headers, payload, operation, pathParams, forged: auth.forged, sent }
}
