import type { Logger } from 'pino'
import type { Config } from '../config.js'
import type { Mail, Mailer } from './mail.js'
import { logTransport, type MailTransport, smtpTransport } from './transports.js'

export interface MailerRetryOptions {
  /** Tries per mail, the first one included. Default 5. */
  attempts?: number
  /** Wait before the first retry, in milliseconds; it doubles for each further retry. Default 1000. */
  baseDelayMs?: number
  /** Longest wait between two tries, in milliseconds. Default 60000. */
  maxDelayMs?: number
}

export interface MailerOptions {
  config: Pick<Config, 'smtpUrl' | 'mailFrom' | 'production'>
  logger: Logger | false
  /** Replaces the transport picked from config (SMTP_URL set: SMTP; unset: the log). */
  transport?: MailTransport
  retry?: MailerRetryOptions
  /** How long `close()` waits for queued mail before giving it up, in milliseconds. Default 10000. */
  closeTimeoutMs?: number
}

// two at a time: one mail stuck on a slow server does not hold up a reset link behind it
const CONCURRENCY = 2

interface Job {
  mail: Mail
  /** Tries made so far. */
  tries: number
}

/**
 * Queues mail in memory and sends it off the request path: `send` returns at once and never
 * throws. A failed try is retried with exponential backoff and jitter; every failure is logged, and
 * a mail that runs out of tries is logged as given up, so no mail is lost silently.
 */
export function createMailer(options: MailerOptions): Mailer {
  const { config, logger } = options
  const attempts = options.retry?.attempts ?? 5
  const baseDelayMs = options.retry?.baseDelayMs ?? 1000
  const maxDelayMs = options.retry?.maxDelayMs ?? 60_000
  const closeTimeoutMs = options.closeTimeoutMs ?? 10_000
  if (!Number.isInteger(attempts) || attempts < 1) {
    throw new RangeError('retry.attempts must be a whole number ≥ 1')
  }
  if (!(baseDelayMs >= 0 && Number.isFinite(baseDelayMs))) {
    throw new RangeError('retry.baseDelayMs must be ≥ 0')
  }
  if (!(maxDelayMs >= baseDelayMs && Number.isFinite(maxDelayMs))) {
    throw new RangeError('retry.maxDelayMs must be finite and ≥ retry.baseDelayMs')
  }
  if (!(closeTimeoutMs >= 0 && Number.isFinite(closeTimeoutMs))) {
    throw new RangeError('closeTimeoutMs must be ≥ 0')
  }

  const transport = options.transport ?? pickTransport(config, logger)
  // the log transport reports each mail itself; "mail sent" next to "mail not sent" would mislead
  const logSent = options.transport !== undefined || config.smtpUrl !== undefined

  const queue: Job[] = []
  /** Retries waiting out their backoff. */
  const waiting = new Map<NodeJS.Timeout, Job>()
  let inFlight = 0
  let idleWaiters: Array<() => void> = []
  let closed = false
  let closing: Promise<void> | undefined
  // cancels sends still running when close() runs out of time
  const abort = new AbortController()

  const isIdle = () => queue.length === 0 && inFlight === 0 && waiting.size === 0

  function settle(): void {
    if (!isIdle()) return
    const waiters = idleWaiters
    idleWaiters = []
    for (const resolve of waiters) resolve()
  }

  function pump(): void {
    while (inFlight < CONCURRENCY) {
      const job = queue.shift()
      if (!job) break
      inFlight++
      void attempt(job)
    }
    settle()
  }

  async function attempt(job: Job): Promise<void> {
    job.tries++
    try {
      await transport.send({ ...job.mail, from: config.mailFrom }, { signal: abort.signal })
      if (logger && logSent) logger.info({ mail: describeMail(job) }, 'mail sent')
    } catch (error) {
      failed(job, error)
    } finally {
      inFlight--
      pump()
    }
  }

  function failed(job: Job, error: unknown): void {
    const details = { mail: describeMail(job), attempts, error: describeError(error, job.mail) }
    // after close() began there is no later to retry in
    if (job.tries >= attempts || closed) {
      if (logger) logger.error(details, 'mail given up')
      return
    }
    const delayMs = backoff(job.tries)
    if (logger) logger.warn({ ...details, retryInMs: delayMs }, 'mail not sent; will retry')
    const timer = setTimeout(() => {
      waiting.delete(timer)
      queue.push(job)
      pump()
    }, delayMs)
    // a pending retry must not keep the process alive; close() flushes retries before exit
    timer.unref()
    waiting.set(timer, job)
  }

  // exponential and capped, with "equal jitter": half of the wait is random, so mails that failed
  // together in one outage do not all come back at the same instant
  function backoff(tries: number): number {
    const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** (tries - 1))
    return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2)
  }

  function giveUp(job: Job, reason: string): void {
    if (logger) logger.error({ mail: describeMail(job), attempts, reason }, 'mail given up')
  }

  function idle(): Promise<void> {
    if (isIdle()) return Promise.resolve()
    return new Promise((resolve) => idleWaiters.push(resolve))
  }

  async function shutDown(): Promise<void> {
    closed = true
    // a retry waiting out its backoff gets its last try now, not after the process has exited
    for (const [timer, job] of waiting) {
      clearTimeout(timer)
      queue.push(job)
    }
    waiting.clear()
    pump()

    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), closeTimeoutMs)
    })
    const late = await Promise.race([idle().then(() => false), timedOut])
    clearTimeout(timer)
    if (late) {
      for (const job of queue.splice(0)) giveUp(job, 'shutdown')
      // the sends still running reject, and failed() logs each one as given up
      abort.abort()
      settle()
    }
    transport.close()
  }

  return {
    send(mail) {
      if (closed) {
        giveUp({ mail, tries: 0 }, 'mailer closed')
        return
      }
      queue.push({ mail, tries: 0 })
      pump()
    },
    idle,
    close() {
      closing ??= shutDown()
      return closing
    },
  }
}

function pickTransport(config: MailerOptions['config'], logger: Logger | false): MailTransport {
  if (config.smtpUrl !== undefined) {
    const transport = smtpTransport(config.smtpUrl)
    if (logger) logger.info({ smtp: smtpHost(config.smtpUrl) }, 'mail is sent over SMTP')
    return transport
  }
  if (logger) {
    if (config.production) {
      logger.warn('SMTP_URL is not set: verification and password-reset mail will not be sent')
    } else {
      logger.info('SMTP_URL is not set: mail is written to the log instead of being sent')
    }
  }
  return logTransport(logger, { production: config.production })
}

/** host:port only, the URL may carry the SMTP password. */
function smtpHost(url: string): string | undefined {
  try {
    return new URL(url).host
  } catch {
    return undefined
  }
}

// a***@example.com: enough to match a log line to a user's "I got no mail", without turning the
// log into a list of addresses (PII). Short local parts show nothing, one letter would be most of it.
function maskAddress(address: string): string {
  const at = address.lastIndexOf('@')
  if (at === -1) return '***'
  const local = address.slice(0, at)
  return `${local.length >= 3 ? local.slice(0, 1) : ''}***@${address.slice(at + 1).toLowerCase()}`
}

function describeMail(job: Job): { kind: string; to: string; attempt: number } {
  return { kind: job.mail.kind, to: maskAddress(job.mail.to), attempt: job.tries }
}

/**
 * The error's message and codes, never the mail. SMTP replies may quote the recipient, and a
 * transport might quote the message, so the address is masked and every link and token in the
 * message is cut out.
 */
function describeError(
  error: unknown,
  mail: Mail,
): { message: string; code?: string; responseCode?: number } {
  let message = error instanceof Error ? error.message : String(error)
  for (const link of mail.text.match(/https?:\/\/\S+/g) ?? []) message = message.split(link).join('[link]')
  message = message
    .replace(/token=[^\s&"'<>]+/gi, 'token=[redacted]')
    .replace(new RegExp(escapeRegExp(mail.to), 'gi'), maskAddress(mail.to))
  const described: { message: string; code?: string; responseCode?: number } = { message }
  if (typeof error === 'object' && error !== null) {
    if ('code' in error && typeof error.code === 'string') described.code = error.code
    if ('responseCode' in error && typeof error.responseCode === 'number') {
      described.responseCode = error.responseCode
    }
  }
  return described
}

function escapeRegExp(value: string): string {
  return value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
