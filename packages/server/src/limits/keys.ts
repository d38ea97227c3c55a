import { createHash } from 'node:crypto'
import { isIP } from 'node:net'

/**
 * The key a client address is counted under. An IPv6 client usually holds a whole /64 and can pick
 * a new address in it for every request, so IPv6 is counted per /64; an IPv4-mapped address
 * counts as its IPv4 one.
 */
export function ipKey(ip: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip)
  if (mapped?.[1]) return mapped[1]
  if (isIP(ip) !== 6) return ip
  const address = ip.split('%')[0] ?? ip
  const [head = '', tail] = address.split('::')
  const groups = (part: string | undefined): string[] =>
    // a dotted IPv4 tail fills two groups
    part ? part.split(':').flatMap((group) => (group.includes('.') ? ['0', '0'] : [group])) : []
  const left = groups(head)
  const right = groups(tail)
  const all =
    tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill('0'), ...right]
  const prefix = all.slice(0, 4).map((group) => group.toLowerCase().replace(/^0+(?=.)/, ''))
  return `${prefix.join(':')}::/64`
}

/** The key an email address is counted under: a digest, so the counters hold no address. */
export function emailKey(emailNormalized: string): string {
  return createHash('sha256').update(emailNormalized).digest('hex').slice(0, 32)
}
