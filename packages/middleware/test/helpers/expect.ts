import { expect } from 'vitest'
import type { HttpResult } from './apps.js'

type Code = 'TOKEN_MISSING' | 'TOKEN_INVALID' | 'TOKEN_EXPIRED' | 'FORBIDDEN'

/** A problem+json answer exactly as Tessera's API.md has it, with the RFC 6750 challenge on a 401. */
export function expectProblem(result: HttpResult, code: Code, realm = 'tessera'): void {
  const status = code === 'FORBIDDEN' ? 403 : 401
  expect(result.status, result.text).toBe(status)
  expect(result.headers.get('content-type')).toMatch(/^application\/problem\+json\b/)
  expect(Object.keys(result.body ?? {}).sort()).toEqual(['code', 'detail', 'status', 'title', 'type'])
  expect(result.body).toMatchObject({
    type: 'about:blank',
    title: status === 401 ? 'Unauthorized' : 'Forbidden',
    status,
    code,
  })
  expect(result.body?.detail).toEqual(expect.any(String))
  const challenge = result.headers.get('www-authenticate')
  if (code === 'FORBIDDEN') expect(challenge).toBeNull()
  else if (code === 'TOKEN_MISSING') expect(challenge).toBe(`Bearer realm="${realm}"`)
  else expect(challenge).toBe(`Bearer realm="${realm}", error="invalid_token"`)
}
