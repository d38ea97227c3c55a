import type { Transporter } from 'nodemailer'
import type { Logger } from 'pino'
import type { MailKind } from './mail.js'

/** One message as a transport sees it: the mail plus the sender. */
export interface OutgoingMail {
  from: string
  to: string
  subject: string
  text: string
  html: string
  /** For logs only; never part of the message on the wire. */
  kind: MailKind
}

/** Where mail goes. `send` rejects when the message was not accepted, so the mailer can retry. */
export interface MailTransport {
  send(message: OutgoingMail, options?: { signal?: AbortSignal }): Promise<void>
  close(): void
}

// nodemailer waits up to 2 min to connect and 10 min on an idle socket; a dead server would hold
// the queue that long. Query options in SMTP_URL (`?socketTimeout=60000`) still win over these.
const SMTP_TIMEOUTS = {
  connectionTimeout: 10_000,
  greetingTimeout: 10_000,
  socketTimeout: 20_000,
  dnsTimeout: 10_000,
}

/**
 * Sends over SMTP. `url` is nodemailer's connection URL: `smtp://user:pass@host:587` upgrades with
 * STARTTLS whenever the server offers it, `smtps://host:465` is TLS from the start. Certificates
 * are verified; nodemailer reads `?tls.rejectUnauthorized=false` from the URL for a server with a
 * self-signed certificate, and `?requireTLS=true` to refuse a server that offers no STARTTLS.
 */
export function smtpTransport(url: string): MailTransport {
  // nodemailer reads any URL and quietly uses defaults for a scheme it does not know (`smpt://`
  // would mean port 587); a typo should stop the start instead. The URL may hold a password, so
  // the message leaves it out.
  if (!/^smtps?:\/\/./i.test(url)) throw new TypeError('SMTP_URL must start with smtp:// or smtps://')
  // nodemailer (about 10 MB) is loaded with the first mail: a server that sends none never holds it
  let transporter: Promise<Transporter> | undefined
  const connect = async (): Promise<Transporter> => {
    const { createTransport } = await import('nodemailer')
    return createTransport({
      url,
      ...SMTP_TIMEOUTS,
      // every field is a plain string from our templates; never let one be read as a path or URL
      disableFileAccess: true,
      disableUrlAccess: true,
    })
  }
  return {
    async send(message, options) {
      transporter ??= connect()
      await (await transporter).sendMail({
        from: message.from,
        to: message.to,
        subject: message.subject,
        text: message.text,
        html: message.html,
        // RFC 3834: tells vacation responders not to answer a machine
        headers: { 'Auto-Submitted': 'auto-generated' },
        signal: options?.signal,
      })
    },
    close() {
      void transporter?.then((open) => open.close())
    },
  }
}

export interface LogTransportOptions {
  /** In production nothing of the mail but its kind and the recipient's domain is logged. */
  production: boolean
}

/**
 * Writes each mail to the log instead of sending it: with no SMTP_URL, development needs no mail
 * server and the link is right there in the log. This is the one place a token reaches a log, on
 * purpose; in production it would leak live reset links to whoever reads the logs, so there the
 * mail is reported as not sent and its body is left out.
 */
export function logTransport(logger: Logger | false, options: LogTransportOptions): MailTransport {
  return {
    async send(message) {
      if (!logger) return
      if (options.production) {
        logger.warn(
          { mail: { kind: message.kind, toDomain: recipientDomain(message.to) } },
          'mail not sent: SMTP_URL is not set',
        )
        return
      }
      logger.info(
        {
          mail: {
            kind: message.kind,
            from: message.from,
            to: message.to,
            subject: message.subject,
            link: firstLink(message.text),
            text: message.text,
          },
        },
        'mail not sent (SMTP_URL is not set); it would read:',
      )
    },
    close() {},
  }
}

function recipientDomain(address: string): string {
  const at = address.lastIndexOf('@')
  return at === -1 ? '' : address.slice(at + 1).toLowerCase()
}

function firstLink(text: string): string | undefined {
  return /https?:\/\/\S+/.exec(text)?.[0]
}
