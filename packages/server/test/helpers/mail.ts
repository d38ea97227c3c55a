import type { Mail, Mailer } from '../../src/mail/mail.js'

/** A mailer that keeps what it is given, in `sent`: tests read the links it carries. */
export function recordingMailer(): Mailer & { sent: Mail[] } {
  const sent: Mail[] = []
  return {
    sent,
    send: (mail) => {
      sent.push(mail)
    },
    idle: async () => {},
    close: async () => {},
  }
}
