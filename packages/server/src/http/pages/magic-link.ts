import { pageHtml } from './html.js'

/**
 * The page behind a magic (sign-in) link. It signs in on a click, never on load: mail scanners open
 * links, and a GET must never use up the token. The refresh cookie it gets (same origin) signs in
 * an app served from this origin; an app elsewhere points TESSERA_MAGIC_LINK_URL at a page of its
 * own that calls the client's `signInWithMagicLink`. An account with a second factor is asked for
 * its code here.
 */
export const magicLinkHtml = (): string =>
  pageHtml({
    title: 'Sign in',
    script: 'magic-link',
    mainHtml: `<h1>Sign in</h1>
<p id="intro">Press the button to sign in with this link.</p>
<div id="outcome" class="outcome" role="status" aria-live="polite" tabindex="-1" hidden></div>
<form id="sign-in-form" method="post">
<fieldset id="sign-in-fields" disabled>
<button type="submit">Sign me in</button>
</fieldset>
</form>
<form id="code-form" method="post" hidden>
<fieldset id="code-fields">
<label for="code">Code from your authenticator app</label>
<input id="code" name="code" type="text" autocomplete="one-time-code" autocapitalize="none" spellcheck="false" required maxlength="64" aria-describedby="code-hint">
<p id="code-hint" class="hint">The 6-digit code, or one of your recovery codes if you lost the app.</p>
<button type="submit">Continue</button>
</fieldset>
</form>`,
  })

// Browser code (plain ES2020 module) kept free of backticks, `${` and backslashes: it sits in a
// template literal.
export const MAGIC_LINK_SCRIPT = `import { describeFailure, postJson, showOutcome, takeToken } from './common.js'

const token = takeToken()
const intro = document.getElementById('intro')
const form = document.getElementById('sign-in-form')
const fields = document.getElementById('sign-in-fields')
const codeForm = document.getElementById('code-form')
const codeFields = document.getElementById('code-fields')
const code = document.getElementById('code')
const outcome = document.getElementById('outcome')
// the answer sets the refresh cookie for this origin: the session is the app's, if it lives here
const withCookie = { credentials: 'same-origin' }
let mfaToken = ''

function signedIn() {
  intro.hidden = true
  form.hidden = true
  codeForm.hidden = true
  code.value = ''
  showOutcome(outcome, 'success', [
    'You are signed in.',
    'Go back to the app where you asked for the link; reload it if it is still open. You can close this page.',
  ])
}

function askForCode() {
  intro.hidden = true
  form.hidden = true
  codeForm.hidden = false
  code.focus()
}

if (!token) {
  showOutcome(outcome, 'error', [
    'This link is incomplete: the part that identifies your request is missing.',
    'Open the link from the email again, or copy the whole address into the address bar.',
  ])
} else {
  fields.disabled = false
  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    fields.disabled = true
    form.setAttribute('aria-busy', 'true')
    const result = await postJson('auth/magic-link/verify', { token, tokenDelivery: 'cookie' }, withCookie)
    form.removeAttribute('aria-busy')
    if (result.ok && result.body && result.body.status === 'mfa_required') {
      mfaToken = String(result.body.mfaToken || '')
      outcome.hidden = true
      askForCode()
      return
    }
    if (result.ok) {
      signedIn()
      return
    }
    const failure = describeFailure(result, 'Ask for a new sign-in email and use the link in the newest one.')
    showOutcome(outcome, 'error', failure.lines, failure.items)
    // a used or expired link cannot work again: leave the button disabled
    fields.disabled = failure.final
  })

  codeForm.addEventListener('submit', async (event) => {
    event.preventDefault()
    if (!codeForm.reportValidity()) return
    const typed = code.value.trim()
    const proof = /^[0-9]{6}$/.test(typed) ? { code: typed } : { recoveryCode: typed }
    codeFields.disabled = true
    codeForm.setAttribute('aria-busy', 'true')
    const result = await postJson('auth/mfa/verify', { mfaToken, tokenDelivery: 'cookie', ...proof }, withCookie)
    codeForm.removeAttribute('aria-busy')
    if (result.ok) {
      signedIn()
      return
    }
    if (result.problem.code === 'MFA_CODE_INVALID') {
      showOutcome(outcome, 'error', ['The code is wrong, expired or already used. Try the newest code.'])
      codeFields.disabled = false
      code.select()
      return
    }
    if (result.problem.code === 'MFA_TOKEN_INVALID') {
      showOutcome(outcome, 'error', [
        'This sign-in has expired or had too many wrong codes.',
        'Ask for a new sign-in email and use the link in the newest one.',
      ])
      return
    }
    const failure = describeFailure(result, 'Ask for a new sign-in email and use the link in the newest one.')
    showOutcome(outcome, 'error', failure.lines, failure.items)
    codeFields.disabled = false
  })
}
`
