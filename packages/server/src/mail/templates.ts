import type { Mail, MailKind } from './mail.js'

export const PRODUCT_NAME = 'Tessera'

/**
 * Appends the token as `?token=` to a configured page (TESSERA_RESET_URL, TESSERA_VERIFY_URL),
 * keeping any query the operator put there. Links are built only from configuration, never from a
 * request's Host header, which a client controls.
 */
export function linkWithToken(base: string, token: string): string {
  const url = new URL(base)
  url.searchParams.set('token', token)
  return url.href
}

export function verifyEmailMail(input: { to: string; link: string; expiresInMinutes: number }): Mail {
  return render('verify-email', input.to, {
    subject: `Confirm your email address for ${PRODUCT_NAME}`,
    blocks: [
      `Someone, hopefully you, created a ${PRODUCT_NAME} account with this email address.`,
      'To confirm that the address is yours, open this link:',
      { label: 'Confirm my email address', url: input.link },
      `The link works once and expires in ${formatMinutes(input.expiresInMinutes)}.`,
      'If you did not create an account, ignore this mail.',
    ],
  })
}

export function resetPasswordMail(input: { to: string; link: string; expiresInMinutes: number }): Mail {
  return render('reset-password', input.to, {
    subject: `Reset your ${PRODUCT_NAME} password`,
    blocks: [
      `Someone asked to reset the password of the ${PRODUCT_NAME} account for this email address.`,
      'To choose a new password, open this link:',
      { label: 'Choose a new password', url: input.link },
      `The link works once and expires in ${formatMinutes(input.expiresInMinutes)}.`,
      'If you did not ask for this, ignore this mail: your password is unchanged.',
    ],
  })
}

export function magicLinkMail(input: { to: string; link: string; expiresInMinutes: number }): Mail {
  return render('magic-link', input.to, {
    subject: `Sign in to ${PRODUCT_NAME}`,
    blocks: [
      `Someone, hopefully you, asked for a link to sign in to the ${PRODUCT_NAME} account of this email address.`,
      'To sign in, open this link:',
      { label: 'Sign in', url: input.link },
      `The link works once and expires in ${formatMinutes(input.expiresInMinutes)}. Do not forward this mail: whoever opens the link is signed in as you.`,
      'If you did not ask for this, ignore this mail: nobody can sign in without the link.',
    ],
  })
}

export function passwordChangedMail(input: { to: string }): Mail {
  return render('password-changed', input.to, {
    subject: `Your ${PRODUCT_NAME} password was changed`,
    blocks: [
      `The password of your ${PRODUCT_NAME} account was just changed, and your other devices were signed out.`,
      'If you did this, there is nothing more to do.',
      'If it was not you, reset your password now with "Forgot password" where you sign in: someone else may know it.',
    ],
  })
}

export function passwordResetDoneMail(input: { to: string }): Mail {
  return render('password-reset-done', input.to, {
    subject: `Your ${PRODUCT_NAME} password was reset`,
    blocks: [
      `The password of your ${PRODUCT_NAME} account was just reset with a link sent to this address, and every device was signed out.`,
      'If you did this, sign in with your new password.',
      'If it was not you, someone can read your mail: secure your email account first, then reset your password again.',
    ],
  })
}

export function accountExistsMail(input: { to: string; resetLink: string; expiresInMinutes: number }): Mail {
  return render('account-exists', input.to, {
    subject: `You already have a ${PRODUCT_NAME} account`,
    blocks: [
      `Someone tried to create a ${PRODUCT_NAME} account with this email address, but you already have one. Sign in as usual.`,
      `If you forgot your password, reset it (the link works once, for ${formatMinutes(input.expiresInMinutes)}):`,
      { label: 'Reset my password', url: input.resetLink },
      'If it was not you, ignore this mail: nothing has changed.',
    ],
  })
}

/** A paragraph, or a link the reader should open. */
type Block = string | { label: string; url: string }

interface Content {
  subject: string
  blocks: Block[]
}

// text and HTML are rendered from the same blocks, so they always say the same thing
export function mfaEnabledMail(input: { to: string }): Mail {
  return render('mfa-enabled', input.to, {
    subject: `Two-step sign-in is on for your ${PRODUCT_NAME} account`,
    blocks: [
      `An authenticator app was just set up as a second step to sign in to your ${PRODUCT_NAME} account.`,
      'Keep your recovery codes somewhere safe: each one signs you in once if you lose the app.',
      'If it was not you, reset your password now with "Forgot password" where you sign in, and ask your administrator to remove the second step.',
    ],
  })
}

export function mfaDisabledMail(input: { to: string }): Mail {
  return render('mfa-disabled', input.to, {
    subject: `Two-step sign-in was turned off for your ${PRODUCT_NAME} account`,
    blocks: [
      `The authenticator app of your ${PRODUCT_NAME} account was removed: a password alone now signs in.`,
      'If you did this, there is nothing more to do.',
      'If it was not you, reset your password now with "Forgot password" where you sign in.',
    ],
  })
}

export function passkeyAddedMail(input: { to: string; name: string }): Mail {
  return render('passkey-added', input.to, {
    subject: `A passkey was added to your ${PRODUCT_NAME} account`,
    blocks: [
      `A passkey named "${input.name}" was just added to your ${PRODUCT_NAME} account: it signs you in without a password, and serves as a second step after one.`,
      'If you did this, there is nothing more to do.',
      'If it was not you, reset your password now with "Forgot password" where you sign in, and ask your administrator to remove the passkey.',
    ],
  })
}

export function passkeyRemovedMail(input: { to: string; name: string }): Mail {
  return render('passkey-removed', input.to, {
    subject: `A passkey was removed from your ${PRODUCT_NAME} account`,
    blocks: [
      `The passkey named "${input.name}" was just removed from your ${PRODUCT_NAME} account: it no longer signs you in.`,
      'If you did this, there is nothing more to do.',
      'If it was not you, reset your password now with "Forgot password" where you sign in.',
    ],
  })
}

export function confirmEmailChangeMail(input: { to: string; link: string; expiresInMinutes: number }): Mail {
  return render('confirm-email-change', input.to, {
    subject: `Confirm your new email address for ${PRODUCT_NAME}`,
    blocks: [
      `Someone, hopefully you, asked to move a ${PRODUCT_NAME} account to this email address.`,
      'To confirm that the address is yours and make it the address of the account, open this link:',
      { label: 'Confirm my new email address', url: input.link },
      `The link works once and expires in ${formatMinutes(input.expiresInMinutes)}.`,
      'If you did not ask for this, ignore this mail: nothing changes without the link.',
    ],
  })
}

export function emailChangeRequestedMail(input: { to: string; newEmail: string }): Mail {
  return render('email-change-requested', input.to, {
    subject: `Your ${PRODUCT_NAME} email address is being changed`,
    blocks: [
      `Someone signed in to your ${PRODUCT_NAME} account asked to change its email address to ${input.newEmail}. A link was sent there; the change takes effect once it is opened.`,
      'If you did this, there is nothing more to do.',
      'If it was not you, change your password now and sign out your other devices: someone else may be signed in.',
    ],
  })
}

export function inviteMail(input: { to: string; link: string; expiresInMinutes: number }): Mail {
  return render('invite', input.to, {
    subject: `You have a ${PRODUCT_NAME} account`,
    blocks: [
      `An administrator created a ${PRODUCT_NAME} account for this email address.`,
      'To choose your password, open this link:',
      { label: 'Choose my password', url: input.link },
      `The link works once and expires in ${formatMinutes(input.expiresInMinutes)}. Once it has, ask for a new one with "Forgot password" where you sign in.`,
      'If you did not expect this, ignore this mail.',
    ],
  })
}

function render(kind: MailKind, to: string, content: Content): Mail {
  const footer = `This mail was sent to ${to} by ${PRODUCT_NAME}.`
  return {
    to,
    kind,
    subject: content.subject,
    text: renderText(content.blocks, footer),
    html: renderHtml(content.subject, content.blocks, footer),
  }
}

function renderText(blocks: Block[], footer: string): string {
  const parts = blocks.map((block) => (typeof block === 'string' ? block : block.url))
  return `${[...parts, '--', footer].join('\n\n')}\n`
}

const STYLE = {
  body: 'margin:0;padding:24px;background:#f4f4f5;font-family:-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#18181b',
  card: 'max-width:480px;margin:0 auto;padding:24px;background:#ffffff;border-radius:8px',
  p: 'margin:0 0 16px;font-size:15px;line-height:1.5',
  button:
    'display:inline-block;padding:10px 18px;background:#1d4ed8;color:#ffffff;text-decoration:none;border-radius:6px;font-weight:600',
  fallback: 'margin:0 0 16px;font-size:13px;line-height:1.5;color:#52525b;word-break:break-all',
  footer: 'margin:24px 0 0;font-size:12px;color:#71717a',
}

function renderHtml(subject: string, blocks: Block[], footer: string): string {
  const body = blocks
    .map((block) => {
      if (typeof block === 'string') return `<p style="${STYLE.p}">${escapeHtml(block)}</p>`
      const url = escapeHtml(block.url)
      // the raw URL under the button, for clients that strip links or show no HTML buttons
      return (
        `<p style="${STYLE.p}"><a href="${url}" style="${STYLE.button}">${escapeHtml(block.label)}</a></p>` +
        `<p style="${STYLE.fallback}">${url}</p>`
      )
    })
    .join('\n')
  return [
    '<!doctype html>',
    '<html lang="en">',
    `<head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${escapeHtml(subject)}</title></head>`,
    `<body style="${STYLE.body}">`,
    `<div style="${STYLE.card}">`,
    body,
    `<p style="${STYLE.footer}">${escapeHtml(footer)}</p>`,
    '</div>',
    '</body>',
    '</html>',
    '',
  ].join('\n')
}

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
}

function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (char) => HTML_ESCAPES[char] ?? char)
}

function formatMinutes(minutes: number): string {
  const whole = Math.max(1, Math.round(minutes))
  if (whole % 60 === 0) return plural(whole / 60, 'hour')
  return plural(whole, 'minute')
}

function plural(count: number, unit: string): string {
  return `${count} ${unit}${count === 1 ? '' : 's'}`
}
