import { describe, expect, it } from 'vitest'
import { parseBasicAuthorization } from '../../src/http/client-auth.js'

const basic = (pair: string) => `Basic ${Buffer.from(pair).toString('base64')}`

describe('parseBasicAuthorization', () => {
  it('reads urlencode(id):urlencode(secret) as RFC 6749 §2.3.1 writes it, the scheme in any case', () => {
    expect(parseBasicAuthorization(basic('svc_abc:s3cr-t_'))).toEqual({
      clientId: 'svc_abc',
      clientSecret: 's3cr-t_',
    })
    expect(parseBasicAuthorization(`bAsIc ${Buffer.from('a:b').toString('base64')}`)).toEqual({
      clientId: 'a',
      clientSecret: 'b',
    })
    // form-urlencoded: %XX escapes, and + is a space; a colon in the secret is escaped or not
    expect(parseBasicAuthorization(basic('my%20id:a+b%3Ac:d'))).toEqual({
      clientId: 'my id',
      clientSecret: 'a b:c:d',
    })
  })

  it('is undefined without a header or with another scheme', () => {
    expect(parseBasicAuthorization(undefined)).toBeUndefined()
    expect(parseBasicAuthorization('Bearer abc')).toBeUndefined()
    expect(parseBasicAuthorization('Basically')).toBeUndefined()
  })

  it('is malformed for bad base64, no colon, an empty part, a bad escape or bytes that are not UTF-8', () => {
    for (const header of [
      'Basic',
      'Basic ',
      'Basic !!!',
      'Basic a b',
      basic('no-colon'),
      basic(':secret'),
      basic('id:'),
      basic('id:%zz'),
      basic('%E0%A4%A:secret'),
      `Basic ${Buffer.from([0x69, 0x3a, 0xff, 0xfe]).toString('base64')}`,
    ]) {
      expect(parseBasicAuthorization(header), header).toBe('malformed')
    }
  })
})
