import { createHash, randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * A STAND-IN for GitHub, on 127.0.0.1: the real github.com and api.github.com are unreachable
 * here. It answers as GitHub documents its OAuth app flow and REST API ("Authorizing OAuth apps",
 * "REST API endpoints for users" and "for emails"): `POST /login/oauth/access_token` (form
 * parameters, JSON only when asked with `Accept: application/json`, and a refused code as
 * **200** with an `error` field), `GET /user` and `GET /user/emails` with the access token.
 * Only the behaviour Tessera relies on is modelled.
 */
export interface GitHubStandIn {
  /** The base URL of both the sign-in pages and the API (`_BASE_URL` and `_API_URL`). */
  url: string
  /** The users by login. */
  users: Map<string, GitHubUser>
  /** What GitHub's consent page would do: a code for this user, bound to the authorization URL's challenge. */
  authorize(authorizationUrl: string, login: string): string
  /** The token requests received, as forms with their Accept header. */
  tokenRequests: { form: URLSearchParams; accept: string | undefined }[]
  /** While set, `/user` and `/user/emails` answer this status. */
  apiStatus: number | undefined
  close(): Promise<void>
}

export interface GitHubUser {
  id: number
  name: string | null
  emails: { email: string; primary: boolean; verified: boolean; visibility: string | null }[]
}

export const GITHUB_CLIENT_ID = 'Iv1.0123456789abcdef'
export const GITHUB_CLIENT_SECRET = 'github-client-secret-0123456789abcdef0123'

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of request) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString()
}

export async function startGitHubStandIn(): Promise<GitHubStandIn> {
  const server: Server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const users = new Map<string, GitHubUser>()
  const codes = new Map<string, { login: string; challenge: string; redirectUri: string }>()
  const tokens = new Map<string, string>()
  const standIn: GitHubStandIn = {
    url,
    users,
    tokenRequests: [],
    apiStatus: undefined,
    authorize(authorizationUrl, login) {
      const params = new URL(authorizationUrl).searchParams
      if (params.get('client_id') !== GITHUB_CLIENT_ID) throw new Error('unknown client_id')
      if (params.get('code_challenge_method') !== 'S256') throw new Error('PKCE S256 expected')
      const code = randomBytes(10).toString('hex')
      codes.set(code, {
        login,
        challenge: params.get('code_challenge') ?? '',
        redirectUri: params.get('redirect_uri') ?? '',
      })
      return code
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }

  server.on('request', async (request, response) => {
    const json = (status: number, body: unknown) => {
      response.writeHead(status, { 'content-type': 'application/json; charset=utf-8' })
      response.end(JSON.stringify(body))
    }
    const path = new URL(request.url ?? '/', url).pathname
    if (request.method === 'POST' && path === '/login/oauth/access_token') {
      const form = new URLSearchParams(await readBody(request))
      const accept = request.headers.accept
      standIn.tokenRequests.push({ form, accept })
      const grant = codes.get(form.get('code') ?? '')
      codes.delete(form.get('code') ?? '')
      const verifier = form.get('code_verifier') ?? ''
      const answer =
        form.get('client_id') !== GITHUB_CLIENT_ID || form.get('client_secret') !== GITHUB_CLIENT_SECRET
          ? {
              error: 'incorrect_client_credentials',
              error_description: 'The client_id and/or client_secret passed are incorrect.',
            }
          : !grant ||
              grant.redirectUri !== form.get('redirect_uri') ||
              createHash('sha256').update(verifier).digest('base64url') !== grant.challenge
            ? {
                error: 'bad_verification_code',
                error_description: 'The code passed is incorrect or expired.',
              }
            : undefined
      const token = `gho_${randomBytes(18).toString('hex')}`
      if (!answer && grant) tokens.set(token, grant.login)
      const body = answer ?? { access_token: token, token_type: 'bearer', scope: 'read:user,user:email' }
      // GitHub answers a refused code with 200, and form-encoded unless JSON was asked for
      if (accept?.includes('application/json')) return json(200, body)
      response.writeHead(200, { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' })
      return response.end(new URLSearchParams(body).toString())
    }
    if (request.method === 'GET' && (path === '/user' || path === '/user/emails')) {
      if (standIn.apiStatus !== undefined) return json(standIn.apiStatus, { message: 'Server Error' })
      const token = /^(?:Bearer|token) (.+)$/i.exec(request.headers.authorization ?? '')?.[1]
      const login = token === undefined ? undefined : tokens.get(token)
      const user = login === undefined ? undefined : users.get(login)
      if (!login || !user) return json(401, { message: 'Bad credentials' })
      if (path === '/user')
        return json(200, { login, id: user.id, name: user.name, email: null, type: 'User' })
      return json(200, user.emails)
    }
    json(404, { message: 'Not Found' })
  })
  return standIn
}
