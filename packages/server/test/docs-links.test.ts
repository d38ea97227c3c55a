import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../../../', import.meta.url))
const pages = [
  'README.md',
  'CHANGELOG.md',
  ...readdirSync(join(root, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`),
]

/** The page's text outside fenced code blocks, where `[a](b)` is code, not a link. */
const prose = (markdown: string): string => markdown.replace(/^```[\s\S]*?^```/gm, '')

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens. */
const slug = (heading: string): string =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-')

function anchorsOf(path: string): Set<string> {
  const headings = prose(readFileSync(path, 'utf8')).matchAll(/^#{1,6} (.+)$/gm)
  return new Set([...headings].map((match) => slug(match[1] ?? '')))
}

describe('links between the README and the docs pages', () => {
  it.each(pages)('%s links only to files and headings that exist', (page) => {
    const from = join(root, page)
    const broken: string[] = []
    for (const [, target = ''] of prose(readFileSync(from, 'utf8')).matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target)) continue // http(s), mailto: not ours to check
      const [file = '', anchor] = target.split('#')
      const path = file === '' ? from : join(dirname(from), file)
      if (!existsSync(path)) broken.push(`${target} (no ${relative(root, path)})`)
      else if (anchor !== undefined && path.endsWith('.md') && !anchorsOf(path).has(anchor)) {
        broken.push(`${target} (no heading #${anchor})`)
      }
    }
    expect(broken).toEqual([])
  })
})
