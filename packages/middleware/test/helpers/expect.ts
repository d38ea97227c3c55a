import { expect } from 'vitest'
import type { HttpResult } from './apps.js'

type Code =
  | 'TOKEN_MISSING'
  | 'TOKEN_INVALID'
  | 'TOKEN_EXPIRED'
  | 'TOKEN_REVOKED'
  | 'FORBIDDEN'
  | 'SERVICE_UNAVAILABLE'

const TITLES = { 401: 'Unauthorized', 403: 'Forbidden', 503: 'Service Unavailable' } as const

/**
 * A problem+json answer exactly as Tessera's API.md has it, with the RFC 6750 challenge on a 401
 * (a 403 for a missing scope: `scope`, the scopes in its `insufficient_scope` challenge).
 */
export function expectProblem(result: HttpResult, code: Code, realm = 'tessera', scope?: string): void {
  const status = code === 'FORBIDDEN' ? 403 : code === 'SERVICE_UNAVAILABLE' ? 503 : 401
  expect(result.status, result.text).toBe(status)
  expect(result.headers.get('content-type')).toMatch(/^application\/problem\+json\b/)
  expect(Object.keys(result.body ?? {}).sort()).toEqual(['code', 'detail', 'status', 'title', 'type'])
  expect(result.body).toMatchObject({
    type: 'about:blank',
    title: TITLES[status],
    status,
    code,
  })
  expect(result.body?.detail).toEqual(expect.any(String))
  const challenge = result.headers.get('www-authenticate')
  if (code === 'FORBIDDEN' && scope !== undefined) {
    expect(challenge).toBe(`Bearer realm="${realm}", error="insufficient_scope", scope="${scope}"`)
  } else if (code === 'FORBIDDEN' || code === 'SERVICE_UNAVAILABLE') expect(challenge).toBeNull()
  else if (code === 'TOKEN_MISSING') expect(challenge).toBe(`Bearer realm="${realm}"`)
  else expect(challenge).toBe(`Bearer realm="${realm}", error="invalid_token"`)
}
