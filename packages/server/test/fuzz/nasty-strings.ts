import fc from 'fast-check'

/**
 * Strings that have broken servers before: NUL and lone surrogates (Postgres text and UTF-8
 * encoders refuse them), look-alike letters (Unicode normalisation and case folding), direction
 * marks, prototype keys, SQL and HTML fragments, astral and combining characters (code points,
 * UTF-16 units and bytes disagree on length).
 */
export const NASTY_STRINGS: readonly string[] = [
  '',
  ' ',
  'a\u0000b',
  '\u0000',
  'x\ud800y',
  '\udbff',
  '\udc00x',
  'ａｄａ@ｅｘａｍｐｌｅ.com',
  '𝐚da@example.com',
  'ada@example.com\u200f',
  '\u202eada@example.com',
  '\u200e\u200f\u202a\u202b\u202c\u202d\u202e',
  'Ada\u200bLovelace',
  '\ufeffada',
  'ADA@EXAMPLE.COM',
  'ada@EXAMPLE.com ',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  "' OR '1'='1",
  "'; DROP TABLE users; --",
  '" OR ""="',
  '1; SELECT pg_sleep(0)',
  '\\',
  '\\u0000',
  '%00',
  '%zz',
  '#{7*7}',
  `\${7*7}`,
  '{{7*7}}',
  '<script>alert(1)</script>',
  '"><img src=x onerror=alert(1)>',
  '</title><svg/onload=alert(1)>',
  'javascript:alert(1)',
  '😀',
  '👩‍👩‍👧‍👦',
  '🏳️‍🌈🇺🇳',
  'e\u0301\u0301\u0301\u0301\u0301',
  'Z̴̡̛̳̖̗͉̗͊̊̒̈́a̶̛̛͎͚̼̞̗̓l̸̡̨̞̱̿̋g̷̢̛̘̗͍̿̐o̵̝͚̥͍̊̒',
  'ﷺ',
  '\u00a0\u2028\u2029',
  'line\r\nbreak',
  '\t\v\f',
  'null',
  'undefined',
  'NaN',
  '-1',
  '1e309',
  '0x7fffffff',
  'true',
  '[]',
  '{}',
  'a'.repeat(255),
  'a'.repeat(4097),
  '😀'.repeat(300),
  'x'.repeat(20_000),
]

export const nastyString = (): fc.Arbitrary<string> => fc.constantFrom(...NASTY_STRINGS)

/** Code points, as JSON Schema's `minLength` and `maxLength` count them. */
export const codePointLength = (value: string): number => Array.from(value).length

/** Pads with `x` to `min` code points and cuts to `max`, so a nasty string fits a schema's bounds. */
export function fitLength(value: string, min: number, max: number | undefined): string {
  const points = Array.from(value)
  const cut = max === undefined ? points : points.slice(0, max)
  while (cut.length < min) cut.push('x')
  return cut.join('')
}
