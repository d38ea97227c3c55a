/**
 * The three packages as a user outside this repository gets them: `npm pack`ed, installed into a
 * new project in the OS temp dir together with express and fastify, `npx tessera serve` started
 * there, and the snippets of the middleware and client READMEs run as written against it. A
 * snippet is the fenced block after a `<!-- snippet: name … -->` comment: what users copy is what
 * runs here.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort, waitFor } from '../packages/server/test/helpers/process.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const PACKAGES = ['server', 'middleware', 'client'] as const
const EMAIL = 'ada@example.com'
const PASSWORD = 'correct horse battery staple'

// what a child may inherit: enough for npm to find its cache, user config and registry, nothing of
// the test runner's own (NODE_ENV=test, DATABASE_URL, TESSERA_*, npm's lifecycle variables)
const INHERITED =
  /^(PATH|HOME|TMPDIR|USERPROFILE|APPDATA|LOCALAPPDATA|SYSTEMROOT|HTTPS?_PROXY|NO_PROXY|npm_config_(registry|cache|userconfig|cafile|proxy|https_proxy|noproxy|strict_ssl))$/i

function childEnv(vars: Record<string, string> = {}): NodeJS.ProcessEnv {
  const inherited = Object.entries(process.env).filter(([key]) => INHERITED.test(key))
  return { ...Object.fromEntries(inherited), ...vars }
}

interface Child {
  process: ChildProcess
  /** What it wrote to stdout. */
  stdout(): string
  /** stdout and stderr as they came, for failure messages. */
  output(): string
  exited: Promise<number | null>
}

const children = new Set<Child>()

/** Spawns `command` in its own process group, so that `npx`'s shell and node go down with it. */
function start(
  command: string,
  args: string[],
  options: { cwd: string; env?: Record<string, string> },
): Child {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: childEnv(options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  let stdout = ''
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString()
    output += chunk.toString()
  })
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  const exited = new Promise<number | null>((resolve) => {
    child.once('error', () => resolve(null))
    child.once('close', (code) => resolve(code))
  })
  const tracked = { process: child, stdout: () => stdout, output: () => output, exited }
  children.add(tracked)
  void exited.then(() => children.delete(tracked))
  return tracked
}

/** Kills the child's whole process group: SIGTERM, then SIGKILL after `graceMs`. */
async function stop(child: Child, graceMs = 5000): Promise<void> {
  const signal = (name: NodeJS.Signals) => {
    try {
      if (child.process.pid !== undefined) process.kill(-child.process.pid, name)
    } catch {
      // the group is gone already
    }
  }
  if (child.process.exitCode !== null || child.process.signalCode !== null) return
  signal('SIGTERM')
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), graceMs)
  })
  if ((await Promise.race([child.exited, late])) === 'late') {
    signal('SIGKILL')
    await child.exited
  }
  clearTimeout(timer)
}

/** Runs a command to completion within `timeoutMs` and returns its stdout; fails with its output on a non-zero exit. */
async function run(
  command: string,
  args: string[],
  options: { cwd: string; env?: Record<string, string>; timeoutMs: number },
): Promise<string> {
  const child = start(command, args, options)
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), options.timeoutMs)
  })
  const code = await Promise.race([child.exited, late])
  clearTimeout(timer)
  const line = `${command} ${args.join(' ')}`
  if (code === 'late') {
    await stop(child, 1000)
    throw new Error(`${line} took longer than ${options.timeoutMs} ms:\n${child.output()}`)
  }
  if (code !== 0) throw new Error(`${line} exited with ${code}:\n${child.output()}`)
  return child.stdout()
}

/** The fenced blocks of a README that follow a `<!-- snippet: name … -->` comment, by name. */
async function snippets(readme: string): Promise<Map<string, string>> {
  const text = await readFile(join(root, readme), 'utf8')
  const found = new Map<string, string>()
  for (const match of text.matchAll(/<!-- snippet: ([\w-]+)[^>]*-->\s*```js\n([\s\S]*?)```/g)) {
    found.set(match[1] as string, match[2] as string)
  }
  return found
}

async function snippet(readme: string, name: string): Promise<string> {
  const code = (await snippets(readme)).get(name)
  if (code === undefined) throw new Error(`${readme} has no <!-- snippet: ${name} --> before a js block`)
  return code
}

interface Answer {
  status: number
  headers: Headers
  body: Record<string, unknown>
}

async function request(url: string, init: { token?: string; body?: unknown } = {}): Promise<Answer> {
  const headers: Record<string, string> = {}
  if (init.token) headers.authorization = `Bearer ${init.token}`
  if (init.body !== undefined) headers['content-type'] = 'application/json'
  const response = await fetch(url, {
    method: init.body === undefined ? 'GET' : 'POST',
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
    signal: AbortSignal.timeout(10_000),
  })
  const text = await response.text()
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : {} }
}

/** Resolves once `url` answers 2xx; fails early, with the child's output, if the child exits. */
async function answers(url: string, child: Child, what: string, timeoutMs: number): Promise<void> {
  await waitFor(
    async () => {
      if (child.process.exitCode !== null) {
        throw new Error(`${what} exited with ${child.process.exitCode}:\n${child.output()}`)
      }
      try {
        const response = await fetch(url, { signal: AbortSignal.timeout(1000) })
        await response.arrayBuffer()
        return response.ok ? true : undefined
      } catch {
        return undefined
      }
    },
    `${what} to answer ${url}`,
    timeoutMs,
    100,
  ).catch((error: Error) => {
    throw new Error(`${error.message}\n${child.output()}`)
  })
}

describe('the packed packages in a project outside the repository', () => {
  let project: string
  /** Where the resource servers find the Tessera server: its default public URL, http://localhost:<port>. */
  let tesseraUrl: string
  let tarballs: { name: string; files: string[] }[]

  beforeAll(async () => {
    project = await mkdtemp(join(tmpdir(), 'tessera-packages-'))
    const began = Date.now()
    // dist/ is built by this project's globalSetup (npm run build); --ignore-scripts skips prepack's
    // rebuild, which would rewrite dist/ under the test files running beside this one
    const packed = await run(
      'npm',
      [
        'pack',
        '--ignore-scripts',
        '--json',
        '--pack-destination',
        project,
        ...PACKAGES.flatMap((name) => ['-w', `packages/${name}`]),
      ],
      { cwd: root, timeoutMs: 30_000 },
    )
    const listing = JSON.parse(packed) as {
      name: string
      filename: string
      files: { path: string }[]
    }[]
    tarballs = listing.map((entry) => ({ name: entry.name, files: entry.files.map((file) => file.path) }))
    await writeFile(
      join(project, 'package.json'),
      `${JSON.stringify({ name: 'tessera-packages-e2e', private: true, type: 'module' }, null, 2)}\n`,
    )
    await run(
      'npm',
      [
        'install',
        '--no-audit',
        '--no-fund',
        '--prefer-offline',
        ...listing.map((entry) => `./${entry.filename}`),
        'express',
        'fastify',
      ],
      { cwd: project, timeoutMs: 90_000 },
    )
    console.log(
      `npm pack + npm install of the three packages took ${((Date.now() - began) / 1000).toFixed(1)} s`,
    )

    const port = await freePort()
    tesseraUrl = `http://localhost:${port}`
    const server = start('npx', ['tessera', 'serve'], {
      cwd: project,
      env: {
        PORT: String(port),
        TESSERA_DATA_DIR: join(project, '.tessera'),
        TESSERA_RATE_LIMIT: 'off',
        LOG_LEVEL: 'warn',
      },
    })
    // a fresh embedded database: PGlite's initdb and the migrations take a few seconds
    await answers(`http://127.0.0.1:${port}/healthz`, server, 'npx tessera serve', 60_000)
  }, 180_000)

  afterAll(async () => {
    await Promise.all([...children].map((child) => stop(child)))
    if (project) await rm(project, { recursive: true, force: true })
  })

  it('packs only what a user needs, with a LICENSE and a types file for every export', async () => {
    const license = await readFile(join(root, 'LICENSE'), 'utf8')
    expect(tarballs.map((tarball) => tarball.name).sort()).toEqual([
      '@tessera/client',
      '@tessera/middleware',
      '@tessera/server',
    ])
    for (const { name, files } of tarballs) {
      expect(files, name).toContain('LICENSE')
      expect(files, name).toContain('package.json')
      expect(
        files.filter(
          (file) =>
            !/^(dist\/.+\.(js|d\.ts)|dist\/data-dir-template\.tar\.gz(\.json)?|bin\/tessera\.js|LICENSE|README\.md|package\.json)$/.test(
              file,
            ),
        ),
        name,
      ).toEqual([])
      const installed = join(project, 'node_modules', name)
      expect(await readFile(join(installed, 'LICENSE'), 'utf8'), name).toBe(license)
      expect(existsSync(join(installed, 'README.md')), `${name} README.md`).toBe(true)
      const manifest = JSON.parse(await readFile(join(installed, 'package.json'), 'utf8')) as {
        exports: Record<string, { types: string; default: string }>
      }
      for (const [entry, target] of Object.entries(manifest.exports)) {
        expect(existsSync(join(installed, target.types)), `${name} ${entry} types ${target.types}`).toBe(true)
        expect(existsSync(join(installed, target.default)), `${name} ${entry} ${target.default}`).toBe(true)
      }
    }
    const exported = await run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "console.log(JSON.stringify(Object.keys(await import('@tessera/server')).sort()))",
      ],
      { cwd: project, timeoutMs: 20_000 },
    )
    expect(JSON.parse(exported)).toEqual(['ConfigError', 'createLogger', 'createTessera', 'parseConfig'])
    expect(await run('npx', ['tessera', 'help'], { cwd: project, timeoutMs: 20_000 })).toContain(
      'Usage: tessera <command>',
    )
  })

  for (const framework of ['express', 'fastify'] as const) {
    it(`runs the middleware README's ${framework} snippet: 200 with a token, 401 without, 403 without the role`, async () => {
      const file = `${framework}-server.mjs`
      await writeFile(join(project, file), await snippet('packages/middleware/README.md', framework))
      const port = await freePort()
      const api = `http://127.0.0.1:${port}`
      const child = start(process.execPath, [file], {
        cwd: project,
        env: { TESSERA_URL: tesseraUrl, PORT: String(port) },
      })
      await answers(`${api}/api/posts`, child, `node ${file}`, 20_000)

      const email = `${framework}-${Date.now()}@example.com`
      const registered = await request(`${tesseraUrl}/auth/register`, {
        body: { email, password: PASSWORD, tokenDelivery: 'body' },
      })
      expect(registered.status).toBe(201)
      const token = registered.body.accessToken as string
      const user = registered.body.user as { id: string }

      const me = await request(`${api}/api/me`, { token })
      expect(me.status, JSON.stringify(me.body)).toBe(200)
      expect(me.body).toMatchObject({ id: user.id, roles: ['user'] })

      const anonymous = await request(`${api}/api/me`)
      expect(anonymous.status).toBe(401)
      expect(anonymous.body).toMatchObject({ code: 'TOKEN_MISSING' })
      expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer /)

      const forgery = await request(`${api}/api/me`, { token: `${token.slice(0, -4)}AAAA` })
      expect(forgery.status).toBe(401)
      expect(forgery.body).toMatchObject({ code: 'TOKEN_INVALID' })

      const admin = await request(`${api}/api/admin`, { token })
      expect(admin.status).toBe(403)
      expect(admin.body).toMatchObject({ code: 'FORBIDDEN' })

      expect((await request(`${api}/api/posts`, { token })).body).toEqual({ viewer: user.id })
      expect((await request(`${api}/api/posts`)).body).toEqual({ viewer: 'anonymous' })
      await stop(child)
    })
  }

  it("runs the client README's Node snippet: login and an authorized fetch, then a refresh on the next run", async () => {
    await writeFile(join(project, 'example.mjs'), await snippet('packages/client/README.md', 'node'))
    const registered = await request(`${tesseraUrl}/auth/register`, {
      body: { email: EMAIL, password: PASSWORD, tokenDelivery: 'body' },
    })
    expect(registered.status).toBe(201)
    const env = { TESSERA_URL: tesseraUrl, TESSERA_EMAIL: EMAIL, TESSERA_PASSWORD: PASSWORD }
    const stored = join(project, '.tessera-refresh')

    const first = await run(process.execPath, ['example.mjs'], { cwd: project, env, timeoutMs: 20_000 })
    expect(first).toContain(`signed in as ${EMAIL}`)
    expect(first).toMatch(/^200 \{/m)
    const firstToken = await readFile(stored, 'utf8')

    // no access token in a new process: restore() refreshes with the stored refresh token
    const second = await run(process.execPath, ['example.mjs'], { cwd: project, env, timeoutMs: 20_000 })
    expect(second).toContain(`session restored for ${EMAIL}`)
    expect(second).toMatch(/^200 \{/m)
    // rotated: the refresh spent the first token and stored its successor
    expect(await readFile(stored, 'utf8')).not.toBe(firstToken)
  })
})
