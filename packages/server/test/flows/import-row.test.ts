import { describe, expect, it } from 'vitest'
import { checkImportRow, csvRecordToRow } from '../../src/flows/import-row.js'

const ID = '00000000-0000-4000-8000-000000000000'
const check = (raw: unknown) => checkImportRow(raw, 7, () => ID)
const reasonOf = (raw: unknown) => {
  const result = check(raw)
  return result.ok ? undefined : result.reason
}
const BCRYPT = `$2b$12$${'a'.repeat(53)}`

describe('checking an import row', () => {
  it('keeps the address as typed and keys it by its mailbox', () => {
    expect(
      check({ email: '  Ada@Example.COM ', passwordHash: BCRYPT, roles: ['user', 'admin', 'user'] }),
    ).toEqual({
      ok: true,
      user: {
        line: 7,
        id: ID,
        email: 'Ada@Example.COM',
        emailNormalized: 'ada@example.com',
        passwordHash: BCRYPT,
        roles: ['user', 'admin'],
      },
    })
  })

  it('refuses what PostgreSQL could not store, so one row never fails its whole batch', () => {
    expect(reasonOf({ email: 'a@example.com', name: 'A\u0000' })).toBe('name must not contain U+0000')
    expect(reasonOf({ email: 'a@example.com', name: '\ud800' })).toBe('name must be valid Unicode')
    expect(reasonOf({ email: 'a@example.com', appMetadata: { note: 'x\u0000' } })).toBe(
      'appMetadata: a string must not contain U+0000',
    )
    expect(reasonOf({ email: 'a@example.com', appMetadata: { '\udc00': 1 } })).toBe(
      'appMetadata: a string must be valid Unicode',
    )
    expect(reasonOf({ email: 'a@example.com', appMetadata: { list: [{ deep: '\ud800' }] } })).toBe(
      'appMetadata: a string must be valid Unicode',
    )
  })

  it('refuses each wrong field with a reason, and unknown fields', () => {
    expect(reasonOf(['a@example.com'])).toBe('not a JSON object')
    expect(reasonOf({ name: 'No Email' })).toBe('email is missing')
    expect(reasonOf({ email: 'a@example.com', pasword: 'typo' })).toBe('unknown field "pasword"')
    expect(reasonOf({ email: 'a@example.com', passwordHash: 42 })).toBe('passwordHash must be a string')
    expect(reasonOf({ email: 'a@example.com', name: 'n'.repeat(257) })).toBe(
      'name is longer than 256 characters',
    )
    expect(reasonOf({ email: 'a@example.com', roles: 'admin' })).toBe('roles must be a list of role names')
    expect(reasonOf({ email: 'a@example.com', roles: Array.from({ length: 33 }, (_, i) => `r${i}`) })).toBe(
      'more than 32 roles',
    )
    expect(reasonOf({ email: 'a@example.com', emailVerified: 'yes' })).toBe(
      'emailVerified must be true or false',
    )
    expect(reasonOf({ email: 'a@example.com', createdAt: 'yesterday' })).toBe(
      'createdAt must be an ISO 8601 date and time',
    )
    expect(reasonOf({ email: 'a@example.com', createdAt: 1700000000 })).toBe(
      'createdAt must be an ISO 8601 date and time',
    )
    expect(reasonOf({ email: 'a@example.com', appMetadata: [1] })).toBe('appMetadata must be a JSON object')
    expect(reasonOf({ email: 'a@example.com', passwordHash: '$argon2id$v=19$m=1,t=1,p=1$abc$def' })).toMatch(
      /^passwordHash: malformed or unsupported argon2 hash/,
    )
  })

  it('reads CSV cells: empty is absent, roles split on spaces or semicolons, JSON metadata', () => {
    expect(
      csvRecordToRow({
        email: 'a@example.com',
        name: '',
        roles: 'a; b c',
        emailVerified: '1',
        appMetadata: '{"x":1}',
      }),
    ).toEqual({ email: 'a@example.com', roles: ['a', 'b', 'c'], emailVerified: true, appMetadata: { x: 1 } })
    expect(csvRecordToRow({ email: 'a@example.com', appMetadata: '{x' })).toBe(
      'appMetadata is not valid JSON',
    )
    expect(check(csvRecordToRow({ email: 'a@example.com', emailVerified: 'maybe' }))).toMatchObject({
      ok: false,
      reason: 'emailVerified must be true or false',
    })
  })
})
