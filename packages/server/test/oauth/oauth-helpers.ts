import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { createServiceClient } from '../../src/flows/service-clients.js'
import type { TestServer } from '../helpers/server.js'

/** A service client made as `tessera clients create` makes one, on the test server's database. */
export async function newClient(
  server: TestServer,
  scope: string,
  name = 'orders-api',
): Promise<{ id: string; secret: string }> {
  const { client, secret } = await createServiceClient(
    { stores: server.deps.stores, clock: server.clock },
    { name, scope },
  )
  return { id: client.id, secret }
}

/** `Authorization: Basic` as RFC 6749 §2.3.1 writes it: each part form-urlencoded, then base64. */
export const basic = (id: string, secret: string): string =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`

const FORM = 'application/x-www-form-urlencoded'

/** POSTs a form body, given as pairs so a test can repeat a parameter. */
export function postForm(
  app: FastifyInstance,
  url: string,
  fields: Record<string, string> | [string, string][],
  headers: Record<string, string> = {},
): Promise<LightMyRequestResponse> {
  const pairs = Array.isArray(fields) ? fields : Object.entries(fields)
  return app.inject({
    method: 'POST',
    url,
    headers: { 'content-type': FORM, ...headers },
    payload: new URLSearchParams(pairs).toString(),
  })
}

/** A client-credentials token for `client`, through Basic. */
export async function serviceToken(
  app: FastifyInstance,
  client: { id: string; secret: string },
  scope?: string,
): Promise<string> {
  const response = await postForm(
    app,
    '/oauth/token',
    { grant_type: 'client_credentials', ...(scope === undefined ? {} : { scope }) },
    { authorization: basic(client.id, client.secret) },
  )
  if (response.statusCode !== 200) throw new Error(`token failed: ${response.statusCode} ${response.body}`)
  return (response.json() as { access_token: string }).access_token
}

/** Every /oauth answer, errors included, is kept out of caches. */
export function expectNoStore(response: LightMyRequestResponse): void {
  if (response.headers['cache-control'] !== 'no-store' || response.headers.pragma !== 'no-cache') {
    throw new Error(
      `not no-store: cache-control ${String(response.headers['cache-control'])}, pragma ${String(response.headers.pragma)}`,
    )
  }
}
