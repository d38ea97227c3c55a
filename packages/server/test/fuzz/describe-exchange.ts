import type { LightMyRequestResponse } from 'fastify'
import type { ResolvedRequest } from './resolve-request.js'

const BODY_LIMIT = 600

// long base64url runs are tokens: enough of them to tell them apart, not enough to use them
const TOKEN_RUN = /[A-Za-z0-9_-]{24,}(?:\.[A-Za-z0-9_-]*){0,2}/g

const shortenTokens = (text: string): string =>
  text.replace(TOKEN_RUN, (token) => `${token.slice(0, 10)}…${token.slice(-6)} (${token.length} chars)`)

/** A string with its invisible characters escaped, cut to `limit` characters. */
function printable(text: string, limit = BODY_LIMIT): string {
  const cut = text.length > limit ? `${text.slice(0, limit)}… (${text.length} chars in all)` : text
  return JSON.stringify(cut)
}

function payloadText(payload: string | Buffer | undefined): string {
  if (payload === undefined) return '(none)'
  if (Buffer.isBuffer(payload)) {
    return `bytes ${payload.subarray(0, 64).toString('hex')}${payload.length > 64 ? '…' : ''}`
  }
  return printable(payload)
}

function headersText(headers: Record<string, unknown>): string {
  const lines = Object.entries(headers).map(
    ([name, value]) => `    ${name}: ${printable(shortenTokens(String(value)), 200)}`,
  )
  return lines.length > 0 ? lines.join('\n') : '    (none)'
}

const decodedSegment = (segment: string): string => {
  try {
    return JSON.stringify(JSON.parse(Buffer.from(segment, 'base64url').toString('utf8')))
  } catch {
    return '(not JSON)'
  }
}

/** What a Bearer JWT says, since the shortened header cannot: a forged claim is often the point. */
function bearerClaims(headers: Record<string, string>): string[] {
  const match = /^bearer +([\w-]+)\.([\w-]+)\.[\w-]*$/i.exec(headers.authorization ?? '')
  if (!match?.[1] || !match[2]) return []
  return [
    `  bearer token header ${decodedSegment(match[1])}`,
    `  bearer token claims ${decodedSegment(match[2])}`,
  ]
}

/** The request and the answer, readable enough to replay by hand. */
export function describeExchange(
  request: ResolvedRequest,
  response: LightMyRequestResponse,
  problems: readonly string[],
): string {
  const route = request.operation
    ? `${request.operation.method} ${request.operation.path}`
    : 'not in the document'
  return [
    `${problems.length} contract violation(s):`,
    ...problems.map((problem) => `  - ${problem}`),
    `request (${route}):`,
    `  ${request.method} ${printable(request.url, 300)}`,
    '  headers:',
    headersText(request.headers),
    ...bearerClaims(request.headers),
    `  body: ${shortenTokens(payloadText(request.payload))}`,
    `response: ${response.statusCode}`,
    '  headers:',
    headersText({
      'content-type': response.headers['content-type'],
      ...(response.headers['set-cookie'] === undefined
        ? {}
        : { 'set-cookie': response.headers['set-cookie'] }),
    }),
    `  body: ${shortenTokens(printable(response.body))}`,
  ].join('\n')
}
