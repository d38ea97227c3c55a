import { afterEach, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config.js'
import { hashRecoveryCode } from '../../src/flows/mfa/recovery-codes.js'
import { createStores, type Stores } from '../../src/store/stores.js'
import { openTesseraDatabase } from '../../src/tessera.js'
import { runCli } from '../helpers/cli.js'
import { cleanupProcesses, preparedDataDir } from '../helpers/process.js'

afterEach(cleanupProcesses)

const PASSWORD = 'correct horse battery staple'

/** Opens the data dir's database the way the CLI does, runs `work` on its stores, and lets it go. */
async function withDataDir<T>(dir: string, work: (stores: Stores) => Promise<T>): Promise<T> {
  const config = parseConfig({ TESSERA_DATA_DIR: dir })
  const { database, lock } = await openTesseraDatabase(config, {
    command: 'test',
    logger: false,
    migrate: true,
  })
  try {
    return await work(createStores(database.db, { accessTokenTtl: 900 }))
  } finally {
    await database.close()
    await lock?.release()
  }
}

describe('tessera users mfa-reset', () => {
  it('removes the TOTP factor and every recovery code of the user, and records mfa_reset', async () => {
    const dir = await preparedDataDir()
    const env = { TESSERA_DATA_DIR: dir }
    expect(
      (await runCli(['users', 'create', '--email', 'lost@example.com'], env, `${PASSWORD}\n`)).code,
    ).toBe(0)
    const userId = await withDataDir(dir, async (stores) => {
      const user = await stores.users.findByEmail('lost@example.com')
      if (!user) throw new Error('no user')
      const now = new Date(user.createdAt)
      await stores.secondFactors.savePendingTotp(user.id, 'sealed-secret', now)
      await stores.secondFactors.confirmTotp(user.id, 1, now)
      await stores.secondFactors.replaceRecoveryCodes(user.id, [hashRecoveryCode('aaaa-bbbb-cccc-dddd')], now)
      return user.id
    })

    const reset = await runCli(['users', 'mfa-reset', '--email', 'LOST@example.com'], env)
    expect(reset.stderr).toBe('')
    expect(reset.code).toBe(0)
    expect(reset.stdout).toMatch(
      /^Removed the second factors of lost@example\.com \(TOTP, 1 recovery code, 0 passkeys\)/,
    )

    await withDataDir(dir, async (stores) => {
      expect(await stores.secondFactors.findTotp(userId)).toBeUndefined()
      expect(await stores.secondFactors.countRecoveryCodes(userId)).toBe(0)
      const events = await stores.authEvents.listForUser(userId, 10)
      expect(events.map((event) => event.type)).toContain('mfa_reset')
    })

    const again = await runCli(['users', 'mfa-reset', '--email', 'lost@example.com'], env)
    expect(again.stdout).toBe('lost@example.com has no second factor.\n')
    const unknown = await runCli(['users', 'mfa-reset', '--email', 'nobody@example.com'], env)
    expect(unknown.code).not.toBe(0)
  })
})
