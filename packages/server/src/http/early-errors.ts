import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ERRORS, type ErrorCode, TesseraError } from '../errors.js'
import { problemBody, sendProblem, toTesseraError } from './problem.js'

type Headers = Readonly<Record<string, string>>

/**
 * Fastify's `frameworkErrors`: a URL the router cannot decode (`/auth/sessions/%zz`) or a path
 * parameter over its length, answered before any hook runs, so with the security headers set here.
 */
export function frameworkErrorHandler(securityHeaders: Headers) {
  return (error: FastifyError, _request: FastifyRequest, reply: FastifyReply): FastifyReply => {
    reply.headers(securityHeaders)
    if (error.code === 'FST_ERR_BAD_URL') {
      return sendProblem(reply, new TesseraError('MALFORMED_REQUEST', { detail: 'The URL is not valid.' }))
    }
    if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') return sendProblem(reply, new TesseraError('URI_TOO_LONG'))
    return sendProblem(reply, toTesseraError(error))
  }
}

/** Node's parser errors, by the code of the error its 'clientError' event carries. */
function clientErrorCode(error: NodeJS.ErrnoException): ErrorCode {
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') return 'REQUEST_TIMEOUT'
  if (error.code === 'HPE_HEADER_OVERFLOW') return 'HEADERS_TOO_LARGE'
  if (error.code === 'HPE_URI_TOO_LONG') return 'URI_TOO_LONG'
  return 'MALFORMED_REQUEST'
}

/**
 * Fastify's `clientErrorHandler`: what Node's HTTP parser refuses (headers too large, a request
 * too slow to arrive, bad framing) never reaches Fastify, so it is written to the socket here, as
 * problem+json with the security headers like every other answer, and the connection is closed.
 */
export function clientErrorHandler(securityHeaders: Headers) {
  return function onClientError(this: FastifyInstance, error: NodeJS.ErrnoException, socket: Duplex): void {
    // a reset connection has nobody to answer
    if (error.code === 'ECONNRESET' || socket.destroyed) return
    const code = clientErrorCode(error)
    this.log.debug({ err: { code: error.code, message: error.message } }, 'client error')
    if (socket.writable) {
      const problem = new TesseraError(code, {
        ...(code === 'MALFORMED_REQUEST' ? { detail: 'The request is not valid HTTP.' } : {}),
      })
      const body = problemBody(problem)
      const { status } = ERRORS[code]
      const lines = [
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}`,
        'Content-Type: application/problem+json; charset=utf-8',
        `Content-Length: ${Buffer.byteLength(body)}`,
        'Connection: close',
        ...Object.entries(securityHeaders).map(([name, value]) => `${name}: ${value}`),
      ]
      socket.write(`${lines.join('\r\n')}\r\n\r\n${body}`)
    }
    socket.destroy(error)
  }
}

/**
 * The methods each route path answers, for a 405 with `Allow` instead of a 404 when the path
 * exists under other methods (RFC 9110 §15.5.6). Collected as routes are added.
 */
export function allowedMethods(app: FastifyInstance): (url: string) => string[] {
  const routes: { pattern: RegExp; method: string }[] = []
  app.addHook('onRoute', (route) => {
    // the catch-all routes (CORS preflight `OPTIONS *`) would make every path "exist"
    if (route.url === '*' || route.url === '/*') return
    const methods = Array.isArray(route.method) ? route.method : [route.method]
    const source = route.url
      .split('/')
      .map((part) => (part.startsWith(':') ? '[^/]+' : part === '*' ? '.*' : escapeRegExp(part)))
      .join('/')
    for (const method of methods) routes.push({ pattern: new RegExp(`^${source}/?$`), method })
  })
  return (url) => {
    const path = url.split('?', 1)[0] ?? ''
    const methods = new Set(routes.filter((route) => route.pattern.test(path)).map((route) => route.method))
    return [...methods].sort()
  }
}

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
