import { Redis } from 'ioredis'
import { describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { TEST_REDIS_URL } from '../helpers/database.js'
import { preparedDataDir } from '../helpers/process.js'

/*
 * The CLI's wake-up of running servers through Redis (src/revocations/wake-up.ts). A file of its
 * own: it reads TEST_REDIS_URL, which puts a file in the database group, run again on PostgreSQL and
 * Redis by .ci/run, and the rest of the users commands need not run twice. Without Redis, see
 * users.test.ts (an unreachable REDIS_URL costs the wake-up, not the change).
 */

const PASSWORD = 'correct horse battery staple'

describe.skipIf(!TEST_REDIS_URL)('tessera users with REDIS_URL set', () => {
  it('wakes the running instances through Redis after a command that revoked tokens, not after others', async () => {
    const prefix = `cliwake${process.pid}:`
    const env = {
      TESSERA_DATA_DIR: await preparedDataDir(),
      REDIS_URL: TEST_REDIS_URL,
      TESSERA_REDIS_PREFIX: prefix,
    }
    const listener = new Redis(TEST_REDIS_URL as string)
    try {
      const messages: string[] = []
      listener.on('message', (channel: string) => messages.push(channel))
      await listener.subscribe(`${prefix}revocations`)
      // a round trip on the subscriber's connection: every message published before it has arrived
      const settled = () => listener.ping()

      const created = await runCli(['users', 'create', '--email', 'wake@example.com'], env, `${PASSWORD}\n`)
      expect(created.code).toBe(0)
      await settled()
      expect(messages).toEqual([])

      const changed = await runCli(['users', 'roles', '--email', 'wake@example.com', '--add', 'ops'], env)
      expect(changed.code).toBe(0)
      await settled()
      expect(messages).toEqual([`${prefix}revocations`])

      const disabled = await runCli(['users', 'disable', '--email', 'wake@example.com'], env)
      expect(disabled.stderr).toBe('')
      expect(disabled.code).toBe(0)
      await settled()
      expect(messages).toHaveLength(2)
    } finally {
      listener.disconnect()
    }
  })
})
