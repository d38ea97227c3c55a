import { GROUPS, type Setting } from './setting.js'
import { SETTINGS } from './table.js'

/** Where the page lives, from the repository root; `npm run docs:config` writes it. */
export const CONFIG_DOCS_PATH = 'docs/configuration.md'

const INTRO = `# Configuration

<!-- Generated from packages/server/src/config/table.ts by \`npm run docs:config\`: edit the table, not this page. -->

Tessera reads its configuration from environment variables, once, when the server or a \`tessera\`
command starts. An empty variable counts as unset. Values are checked before anything else happens:
when any is invalid, nothing starts, and the message lists every invalid variable with what it
expects, one per line:

\`\`\`
tessera: 2 configuration variables are invalid:
  PORT: expected a whole number from 0 to 65535, got "abc"
  TESSERA_ACCESS_TOKEN_TTL: expected a duration such as 900, 15m, 12h or 7d, got "soon"
\`\`\`

How values are written:

- **Durations** are whole seconds (\`900\`) or a whole number with one unit: \`s\`, \`m\`, \`h\` or \`d\`
  (\`15m\`, \`12h\`, \`7d\`). No fractions and no combined units: write \`90m\`, not \`1h30m\`.
- **Rates** (\`TESSERA_LIMIT_*\`) are \`<count>/<duration>\`: \`5/1m\` allows 5 in a fixed window of a
  minute that starts with the first of them.
- **Switches** take \`on\`/\`off\`, \`true\`/\`false\` or \`1\`/\`0\`, whichever pair the default shows.
- **Sizes** are in bytes; **lists** are comma-separated.

Run several instances with the same values (see [operations](operations.md#several-instances)).
`

/** docs/configuration.md: the intro, then one table per group of the settings table. */
export function renderConfigDocs(): string {
  const sections = GROUPS.map(({ id, title }) => {
    const rows = SETTINGS.filter((setting) => setting.group === id).map((setting) => [
      `\`${setting.variable}\``,
      cell(shownDefault(setting)),
      cell(setting.doc),
    ])
    return `## ${title}\n\n${table(['variable', 'default', 'meaning'], rows)}`
  })
  return `${[INTRO.trimEnd(), ...sections].join('\n\n')}\n`
}

function shownDefault(setting: Setting): string {
  if (setting.shown !== undefined) return setting.shown
  if (typeof setting.default === 'string') return `\`${setting.default}\``
  return 'unset'
}

/** A table cell: a `|` would end it. */
const cell = (markdown: string): string => markdown.replaceAll('|', '\\|')

/** A markdown table with its columns padded to one width, as `biome format` writes them. */
function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const width = (text: string) => [...text].length
  const widths = head.map((title, column) =>
    Math.max(width(title), ...rows.map((row) => width(row[column] ?? ''))),
  )
  const line = (cells: readonly string[]) =>
    `| ${cells.map((text, column) => text + ' '.repeat((widths[column] ?? 0) - width(text))).join(' | ')} |`
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n')
}
