import { randomBytes } from 'node:crypto'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import type { Mail } from '../../src/mail/mail.js'
import { createMailer } from '../../src/mail/mailer.js'
import {
  accountExistsMail,
  linkWithToken,
  passwordChangedMail,
  passwordResetDoneMail,
  resetPasswordMail,
  verifyEmailMail,
} from '../../src/mail/templates.js'
import type { MailTransport, OutgoingMail } from '../../src/mail/transports.js'
import { linkIn, startSmtpServer, type TestSmtpServer, unusedSmtpUrl } from '../helpers/smtp.js'

const MAIL_FROM = 'Tessera <no-reply@auth.example.com>'
const FAST_RETRY = { attempts: 5, baseDelayMs: 10, maxDelayMs: 40 }

interface LogLine {
  level: number
  msg: string
  [field: string]: unknown
}

/** A pino logger writing to memory, so a test can read every line as JSON and as raw text. */
function memoryLogger() {
  const raw: string[] = []
  const logger = pino(
    { level: 'trace' },
    {
      write(line: string) {
        raw.push(line)
      },
    },
  )
  return {
    logger,
    lines: (): LogLine[] => raw.map((line) => JSON.parse(line) as LogLine),
    text: () => raw.join(''),
  }
}

/** A long token, so its line is wrapped with quoted-printable soft line breaks. */
function longToken(): string {
  return randomBytes(96).toString('base64url')
}

function resetMail(token: string, to = 'alice@example.com'): { mail: Mail; link: string } {
  const link = linkWithToken('https://app.example.com/reset-password?lang=en', token)
  return { mail: resetPasswordMail({ to, link, expiresInMinutes: 15 }), link }
}

const servers: TestSmtpServer[] = []
async function smtpServer(options?: { starttls?: boolean }): Promise<TestSmtpServer> {
  const server = await startSmtpServer(options)
  servers.push(server)
  return server
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()))
})

describe('createMailer over SMTP', () => {
  it('delivers text and HTML from MAIL_FROM with the link intact through quoted-printable', async () => {
    const smtp = await smtpServer()
    const mailer = createMailer({
      config: { smtpUrl: smtp.url, mailFrom: MAIL_FROM, production: true },
      logger: false,
    })
    const token = longToken()
    const { mail, link } = resetMail(token)

    mailer.send(mail)
    await mailer.idle()
    await mailer.close()

    expect(smtp.messages).toHaveLength(1)
    const received = smtp.messages[0]
    if (!received) throw new Error('no mail')
    expect(received.from).toBe(MAIL_FROM)
    expect(received.envelope).toEqual({ from: 'no-reply@auth.example.com', to: ['alice@example.com'] })
    expect(received.subject).toBe('Reset your Tessera password')
    expect(received.headers.get('auto-submitted')).toBe('auto-generated')
    // the wire form really was wrapped and escaped, so the decoding below is tested
    expect(received.raw).toMatch(/Content-Transfer-Encoding: quoted-printable/i)
    expect(received.raw).not.toContain(token)
    expect(linkIn(received)).toBe(link)
    expect(received.text).toBe(mail.text.replace(/\n/g, '\r\n'))
    expect(received.html).toContain(`href="${link.replace(/&/g, '&amp;')}"`)
    // no STARTTLS offered, so the session stayed plain
    expect(received.secure).toBe(false)
  })

  it('retries a refused mail and delivers it on the third try, logging neither link nor address', async () => {
    const smtp = await smtpServer()
    smtp.failNext(2)
    const log = memoryLogger()
    const mailer = createMailer({
      config: { smtpUrl: smtp.url, mailFrom: MAIL_FROM, production: true },
      logger: log.logger,
      retry: FAST_RETRY,
    })
    const token = longToken()
    const { mail } = resetMail(token)

    mailer.send(mail)
    await mailer.idle()
    await mailer.close()

    const received = await smtp.waitForMail()
    expect(smtp.messages).toHaveLength(1)
    expect(linkIn(received)).toContain(token)
    const retries = log.lines().filter((line) => line.msg === 'mail not sent; will retry')
    expect(retries).toHaveLength(2)
    expect(retries.map((line) => line.level)).toEqual([40, 40])
    expect(retries.map((line) => (line.mail as { attempt: number }).attempt)).toEqual([1, 2])
    expect(retries[0]).toMatchObject({
      mail: { kind: 'reset-password', to: 'a***@example.com' },
      error: { responseCode: 451 },
    })
    expect(retries[0]?.error).toMatchObject({ message: expect.stringMatching(/451/) })
    expect(log.lines().find((line) => line.msg === 'mail sent')).toMatchObject({ mail: { attempt: 3 } })
    expect(log.text()).not.toContain(token)
    expect(log.text()).not.toContain('token=')
    expect(log.text()).not.toContain('alice@')
  })

  it('gives up after the last attempt when no server listens, without throwing from send', async () => {
    const log = memoryLogger()
    const mailer = createMailer({
      config: { smtpUrl: await unusedSmtpUrl(), mailFrom: MAIL_FROM, production: true },
      logger: log.logger,
      retry: { attempts: 3, baseDelayMs: 5, maxDelayMs: 20 },
    })
    const token = longToken()

    expect(() => mailer.send(resetMail(token).mail)).not.toThrow()
    await mailer.idle()
    await mailer.close()

    const lines = log.lines()
    expect(lines.filter((line) => line.msg === 'mail not sent; will retry')).toHaveLength(2)
    const givenUp = lines.filter((line) => line.msg === 'mail given up')
    expect(givenUp).toHaveLength(1)
    expect(givenUp[0]).toMatchObject({
      level: 50,
      attempts: 3,
      mail: { kind: 'reset-password', to: 'a***@example.com', attempt: 3 },
    })
    expect(givenUp[0]?.error).toMatchObject({ message: expect.any(String) })
    expect(log.text()).not.toContain(token)
  })

  it('upgrades with STARTTLS when the server offers it', async () => {
    const smtp = await smtpServer({ starttls: true })
    const mailer = createMailer({
      // smtp-server's built-in certificate is self-signed: accepted here only because the URL says so
      config: { smtpUrl: `${smtp.url}?tls.rejectUnauthorized=false`, mailFrom: MAIL_FROM, production: true },
      logger: false,
    })

    mailer.send(resetMail(longToken()).mail)
    await mailer.idle()
    await mailer.close()

    expect(smtp.messages).toHaveLength(1)
    expect(smtp.messages[0]?.secure).toBe(true)
  })

  it('verifies the STARTTLS certificate by default and sends nothing in clear text when it fails', async () => {
    const smtp = await smtpServer({ starttls: true })
    const log = memoryLogger()
    const mailer = createMailer({
      config: { smtpUrl: smtp.url, mailFrom: MAIL_FROM, production: true },
      logger: log.logger,
      retry: { attempts: 1 },
    })

    mailer.send(resetMail(longToken()).mail)
    await mailer.idle()
    await mailer.close()

    expect(smtp.messages).toHaveLength(0)
    const givenUp = log.lines().find((line) => line.msg === 'mail given up')
    // smtp-server's built-in certificate is self-signed (and by now expired): either way, refused
    expect(givenUp).toMatchObject({ level: 50, error: { message: expect.stringMatching(/certificate/) } })
  })
})

describe('createMailer queue', () => {
  function recordingTransport(behaviour: (message: OutgoingMail, signal?: AbortSignal) => Promise<void>) {
    const sent: OutgoingMail[] = []
    let closed = false
    const transport: MailTransport = {
      async send(message, options) {
        await behaviour(message, options?.signal)
        sent.push(message)
      },
      close() {
        closed = true
      },
    }
    return { transport, sent, isClosed: () => closed }
  }
  const config = { smtpUrl: undefined, mailFrom: MAIL_FROM, production: true }

  it('resolves idle at once when nothing was sent', async () => {
    const mailer = createMailer({
      config,
      logger: false,
      transport: recordingTransport(async () => {}).transport,
    })
    await expect(mailer.idle()).resolves.toBeUndefined()
  })

  it('never throws from send, even when the transport throws synchronously', async () => {
    const log = memoryLogger()
    const transport: MailTransport = {
      send() {
        throw new Error('transport exploded')
      },
      close() {},
    }
    const mailer = createMailer({
      config,
      logger: log.logger,
      transport,
      retry: { attempts: 2, baseDelayMs: 1 },
    })

    expect(() => mailer.send(passwordChangedMail({ to: 'bob@example.com' }))).not.toThrow()
    await mailer.idle()

    expect(log.lines().find((line) => line.msg === 'mail given up')).toMatchObject({
      mail: { kind: 'password-changed', to: 'b***@example.com', attempt: 2 },
      error: { message: 'transport exploded' },
    })
  })

  it('cuts links, tokens and the full address out of error messages before logging them', async () => {
    const log = memoryLogger()
    const token = longToken()
    const { mail, link } = resetMail(token)
    const recorder = recordingTransport(async () => {
      throw new Error(`550 rejected <alice@example.com> for ${link} (token=${token})`)
    })
    const mailer = createMailer({
      config,
      logger: log.logger,
      transport: recorder.transport,
      retry: { attempts: 1 },
    })

    mailer.send(mail)
    await mailer.idle()

    expect(log.text()).not.toContain(token)
    expect(log.text()).not.toContain('alice@')
    expect(log.text()).toContain('a***@example.com')
  })

  it('on close gives a retry waiting out its backoff its last try at once', async () => {
    let calls = 0
    const recorder = recordingTransport(async () => {
      calls++
      if (calls === 1) throw new Error('421 try later')
    })
    const log = memoryLogger()
    const mailer = createMailer({
      config,
      logger: log.logger,
      transport: recorder.transport,
      retry: { attempts: 5, baseDelayMs: 60_000, maxDelayMs: 60_000 },
    })

    mailer.send(passwordResetDoneMail({ to: 'carol@example.com' }))
    await expect.poll(() => log.lines().some((line) => line.msg === 'mail not sent; will retry')).toBe(true)
    const started = Date.now()
    await mailer.close()

    expect(Date.now() - started).toBeLessThan(5_000)
    expect(recorder.sent).toHaveLength(1)
    expect(recorder.isClosed()).toBe(true)
  })

  it('on close gives up, and logs, mail still unsent when the bound runs out', async () => {
    // a transport that hangs until the mailer aborts it
    const recorder = recordingTransport(
      (_message, signal) =>
        new Promise<void>((_resolve, reject) => {
          signal?.addEventListener('abort', () => reject(new Error('aborted')))
        }),
    )
    const log = memoryLogger()
    const mailer = createMailer({
      config,
      logger: log.logger,
      transport: recorder.transport,
      closeTimeoutMs: 50,
    })

    for (const to of ['dan@example.com', 'eve@example.com', 'fay@example.com']) {
      mailer.send(passwordChangedMail({ to }))
    }
    await mailer.close()
    await mailer.idle()

    const givenUp = log.lines().filter((line) => line.msg === 'mail given up')
    expect(givenUp.map((line) => (line.mail as { to: string }).to).sort()).toEqual([
      'd***@example.com',
      'e***@example.com',
      'f***@example.com',
    ])
    expect(recorder.isClosed()).toBe(true)

    mailer.send(passwordChangedMail({ to: 'gus@example.com' }))
    expect(log.lines().at(-1)).toMatchObject({ msg: 'mail given up', reason: 'mailer closed' })
  })

  it('refuses an SMTP_URL that is not smtp:// or smtps:// when it is created, without echoing it', () => {
    const smtpUrl = 'http://user:secret@mail.example.com'
    expect(() => createMailer({ config: { ...config, smtpUrl }, logger: false })).toThrow(
      'SMTP_URL must start with smtp:// or smtps://',
    )
  })

  it('rejects retry options that make no sense when it is created', () => {
    expect(() => createMailer({ config, logger: false, retry: { attempts: 0 } })).toThrow(/attempts/)
    expect(() =>
      createMailer({ config, logger: false, retry: { baseDelayMs: 100, maxDelayMs: 10 } }),
    ).toThrow(/maxDelayMs/)
  })
})

describe('log transport (SMTP_URL unset)', () => {
  it('in development writes the mail with its link to the log', async () => {
    const log = memoryLogger()
    const mailer = createMailer({
      config: { smtpUrl: undefined, mailFrom: MAIL_FROM, production: false },
      logger: log.logger,
    })
    const { mail, link } = resetMail(longToken())

    mailer.send(mail)
    await mailer.idle()

    const line = log
      .lines()
      .find((entry) => (entry.mail as { link?: string } | undefined)?.link !== undefined)
    expect(line).toMatchObject({
      level: 30,
      mail: { kind: 'reset-password', to: 'alice@example.com', subject: mail.subject, link },
    })
    expect(line?.mail).toMatchObject({ text: expect.stringContaining(link) })
  })

  it('in production logs neither link nor body nor address, and warns once at start', async () => {
    const log = memoryLogger()
    const mailer = createMailer({
      config: { smtpUrl: undefined, mailFrom: MAIL_FROM, production: true },
      logger: log.logger,
    })
    const token = longToken()

    mailer.send(resetMail(token).mail)
    mailer.send(
      verifyEmailMail({
        to: 'alice@example.com',
        link: `https://x.test/?token=${token}`,
        expiresInMinutes: 60,
      }),
    )
    await mailer.idle()

    const lines = log.lines()
    expect(lines.filter((line) => /SMTP_URL is not set: verification/.test(line.msg))).toHaveLength(1)
    const notSent = lines.filter((line) => line.msg === 'mail not sent: SMTP_URL is not set')
    expect(notSent.map((line) => line.mail)).toEqual([
      { kind: 'reset-password', toDomain: 'example.com' },
      { kind: 'verify-email', toDomain: 'example.com' },
    ])
    expect(log.text()).not.toContain(token)
    expect(log.text()).not.toContain('alice@')
    expect(log.text()).not.toContain('Reset your')
    expect(lines.some((line) => line.msg === 'mail sent')).toBe(false)
  })
})

describe('mail templates', () => {
  const link = linkWithToken('https://app.example.com/verify?from=mail&x=1', 'tok-123')
  const all: Mail[] = [
    verifyEmailMail({ to: 'a@example.com', link, expiresInMinutes: 1440 }),
    resetPasswordMail({ to: 'a@example.com', link, expiresInMinutes: 15 }),
    passwordChangedMail({ to: 'a@example.com' }),
    passwordResetDoneMail({ to: 'a@example.com' }),
    accountExistsMail({ to: 'a@example.com', resetLink: link, expiresInMinutes: 15 }),
  ]

  it('escapes every interpolated value in the HTML', () => {
    const mail = resetPasswordMail({
      to: '"<script>alert(1)</script>"@example.com',
      link: 'https://app.example.com/reset?token=a"onmouseover="x',
      expiresInMinutes: 15,
    })
    expect(mail.html).not.toContain('<script>')
    expect(mail.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;')
    expect(mail.html).not.toContain('"onmouseover')
    expect(mail.html).toContain('a&quot;onmouseover=&quot;x')
  })

  it('carries the same links in text and HTML', () => {
    for (const mail of all) {
      const textLinks = mail.text.match(/https?:\/\/\S+/g) ?? []
      const hrefs = [...mail.html.matchAll(/href="([^"]*)"/g)].map((match) =>
        (match[1] ?? '').replace(/&amp;/g, '&'),
      )
      expect(hrefs, mail.kind).toEqual(textLinks)
    }
    expect(all[0]?.text).toContain(link)
    expect(all[1]?.text).toContain(link)
  })

  it('says in HTML every paragraph the text says', () => {
    const escapeHtml = (value: string) =>
      value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
    for (const mail of all) {
      const paragraphs = mail.text.split('\n\n').map((part) => part.trim())
      for (const paragraph of paragraphs.filter((part) => part !== '--')) {
        expect(mail.html, `${mail.kind}: ${paragraph}`).toContain(escapeHtml(paragraph))
      }
    }
  })

  it('names the product, the kind and how long a link lasts', () => {
    expect(all.map((mail) => mail.kind)).toEqual([
      'verify-email',
      'reset-password',
      'password-changed',
      'password-reset-done',
      'account-exists',
    ])
    for (const mail of all) expect(mail.subject).toContain('Tessera')
    expect(all[0]?.text).toContain('expires in 24 hours')
    expect(all[1]?.text).toContain('expires in 15 minutes')
    expect(all[1]?.text).toContain('your password is unchanged')
  })
})

describe('linkWithToken', () => {
  it('appends the token and keeps an existing query and fragment', () => {
    expect(linkWithToken('https://app.example.com/reset?lang=en#form', 'abc')).toBe(
      'https://app.example.com/reset?lang=en&token=abc#form',
    )
  })

  it('replaces a token already in the URL and encodes what needs it', () => {
    expect(linkWithToken('https://app.example.com/reset?token=old', 'a+b/c=')).toBe(
      'https://app.example.com/reset?token=a%2Bb%2Fc%3D',
    )
  })
})
