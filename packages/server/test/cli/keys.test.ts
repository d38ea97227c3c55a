import { decodeProtectedHeader } from 'jose'
import { afterEach, describe, expect, it } from 'vitest'
import { runCli, startServerInProcess, stopInProcessServers } from '../helpers/cli.js'
import { cleanupProcesses, freePort, preparedDataDir, register, requestJson } from '../helpers/process.js'

const PASSWORD = 'correct horse battery staple'
const OTHER_SECRET = 'Zq3v8N1xR7kPw2LmT9yB4cHd6FgJs0Ue-not-the-one'

afterEach(async () => {
  await stopInProcessServers()
  await cleanupProcesses()
})

describe('tessera keys on an embedded data dir', () => {
  it('rotates while no server runs; the next start signs with the new key and still publishes the old', async () => {
    const dir = await preparedDataDir()
    // the new key signs at once (no publish lead)
    const env = { TESSERA_DATA_DIR: dir, TESSERA_KEY_PUBLISH_LEAD: '0' }
    const first = await startServerInProcess(env)
    const before = await register(first.url, 'keys@example.com', PASSWORD)
    const oldKid = decodeProtectedHeader(before.body.accessToken).kid
    expect(await first.stop()).toMatchObject({ code: 0 })

    const rotated = await runCli(['keys', 'rotate'], env)
    expect(rotated.code).toBe(0)
    // a kid is the base64url SHA-256 thumbprint of the key
    const newKid = /signing key ([A-Za-z0-9_-]{43})/.exec(rotated.stdout)?.[1]
    expect(newKid).toBeDefined()
    expect(newKid).not.toBe(oldKid)

    const list = await runCli(['keys', 'list'], env)
    expect(list.stdout.trim().split('\n')).toHaveLength(2)
    expect(list.stdout).toMatch(new RegExp(`^${newKid}\\s+RS256\\s+active\\s`, 'm'))
    expect(list.stdout).toMatch(new RegExp(`^${oldKid}\\s+RS256\\s+retired\\s`, 'm'))

    const second = await startServerInProcess({ ...env, PORT: String(first.port) })
    const after = await register(second.url, 'keys2@example.com', PASSWORD)
    expect(decodeProtectedHeader(after.body.accessToken).kid).toBe(newKid)
    const kids = (await requestJson<{ keys: { kid: string }[] }>(`${second.url}/.well-known/jwks.json`)).body
      .keys
    expect(kids.map((key) => key.kid).sort()).toEqual([oldKid, newKid].sort())
    expect((await requestJson(`${second.url}/auth/me`, { token: before.body.accessToken })).status).toBe(200)
  })

  it('refuses keys rotate and serve with a TESSERA_SECRET that does not decrypt the signing keys', async () => {
    const dir = await preparedDataDir()
    const env = { TESSERA_DATA_DIR: dir }
    // the first start makes a key sealed under the development secret in the data dir
    const server = await startServerInProcess(env)
    const kid = decodeProtectedHeader(
      (await register(server.url, 'k@example.com', PASSWORD)).body.accessToken,
    ).kid
    expect(await server.stop()).toMatchObject({ code: 0 })

    // a key sealed under another secret would stop every server at its next start: refused
    const rotate = await runCli(['keys', 'rotate'], { ...env, TESSERA_SECRET: OTHER_SECRET })
    expect(rotate.code).toBe(1)
    expect(rotate.stderr).toBe(
      `tessera: TESSERA_SECRET: does not decrypt the signing key ${kid} in the database. ` +
        'Use the secret the keys were made with (the one the servers run with).\n',
    )
    const list = await runCli(['keys', 'list'], env)
    expect(list.stdout.trim().split('\n')).toEqual([
      expect.stringMatching(new RegExp(`^${kid}\\s+RS256\\s+active`)),
    ])

    // and a server with the wrong secret says so instead of failing with a stack trace
    const serve = await runCli(['serve'], {
      ...env,
      TESSERA_SECRET: OTHER_SECRET,
      PORT: String(await freePort()),
    })
    expect(serve.code).toBe(1)
    expect(serve.stderr).toMatch(/^tessera: TESSERA_SECRET: does not decrypt the signing key/)
    expect(serve.stderr).not.toMatch(/\n\s+at /)
  })
})
