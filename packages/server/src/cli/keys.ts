import { parseArgs } from 'node:util'
import { systemClock } from '../clock.js'
import type { Config } from '../config.js'
import { type KeyInfo, listKeys, reencryptKeys, rotateKey } from '../flows/keys.js'
import { reencryptTotpSecrets } from '../flows/mfa/reencrypt-totp.js'
import { assertSecretOpensSigningKeys, resolveSecret } from '../tessera.js'
import type { CliIo } from './io.js'
import { withEvents, withStores } from './with-stores.js'

/** `tessera keys rotate | list | reencrypt`. */
export async function keys(config: Config, args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args
  const print = (keys: KeyInfo[]) => {
    for (const key of keys) {
      io.stdout.write(
        `${key.kid}  ${key.alg.padEnd(5)}  ${key.state.padEnd(9)}  created ${key.createdAt.toISOString()}` +
          `${key.retiredAt ? `  retired ${key.retiredAt.toISOString()}` : ''}\n`,
      )
    }
  }
  if (sub === 'list')
    return withStores(config, 'keys list', async (stores) =>
      print(await listKeys({ stores, clock: systemClock })),
    )
  if (sub === 'rotate') {
    const { values } = parseArgs({ args: rest, options: { now: { type: 'boolean' } }, strict: true })
    const alg = config.signingAlg
    if (alg === 'HS256') {
      io.stderr.write(
        'TESSERA_SIGNING_ALG is HS256: the shared secret is the key; rotate TESSERA_HS256_SECRET instead.\n',
      )
      return 2
    }
    return withStores(config, 'keys rotate', async (stores) => {
      const secret = await resolveSecret(config, false)
      await assertSecretOpensSigningKeys(config, stores.signingKeys, secret)
      const { kid, activatesAt } = await withEvents(stores, (events) =>
        rotateKey({
          stores,
          clock: systemClock,
          events,
          secret,
          alg,
          // --now: a key thought compromised is replaced at once, accepting that verifiers with a
          // cached JWKS refuse new tokens until they re-fetch it
          lead: values.now ? 0 : config.keyPublishLead,
        }),
      )
      io.stdout.write(
        values.now || config.keyPublishLead === 0
          ? `New active signing key ${kid}. Running servers sign with it within ${config.keyRefreshInterval} s.\n`
          : `New signing key ${kid}: in the JWKS of running servers within ${config.keyRefreshInterval} s, ` +
              `signing from ${activatesAt.toISOString()}.\n`,
      )
    })
  }
  if (sub === 'reencrypt') {
    parseArgs({ args: rest, options: {}, strict: true })
    return withStores(config, 'keys reencrypt', async (stores) => {
      const secret = await resolveSecret(config, false)
      const { reencrypted, unchanged } = await reencryptKeys({
        stores,
        secret,
        previousSecret: config.secretPrevious,
      })
      // the TOTP secrets too, once the keys have moved (a key that opened with neither stops above)
      const totp = await reencryptTotpSecrets({ stores, secret, previousSecret: config.secretPrevious })
      io.stdout.write(
        reencrypted.length === 0
          ? `Every signing key (${unchanged.length}) is already encrypted under TESSERA_SECRET.\n`
          : `Re-encrypted ${reencrypted.length} signing key(s) under TESSERA_SECRET: ${reencrypted.join(', ')}. ` +
              'TESSERA_SECRET_PREVIOUS is no longer needed.\n',
      )
      if (totp.reencrypted > 0)
        io.stdout.write(`Re-encrypted ${totp.reencrypted} TOTP secret(s) under TESSERA_SECRET.\n`)
      if (totp.unreadable > 0)
        io.stderr.write(
          `${totp.unreadable} TOTP secret(s) open with neither secret: those users cannot sign in with ` +
            'their app until `tessera users mfa-reset`.\n',
        )
    })
  }
  io.stderr.write(`Usage: tessera keys rotate [--now] | tessera keys list | tessera keys reencrypt\n`)
  return 2
}
