import { pageHtml } from './html.js'

/**
 * The page behind the email-verification link. It asks for a click rather than confirming on load:
 * mail scanners open links, and a GET must never use up the token.
 */
export const verifyEmailHtml = (): string =>
  pageHtml({
    title: 'Confirm your email address',
    script: 'verify-email',
    mainHtml: `<h1>Confirm your email address</h1>
<p>Press the button to confirm that this email address is yours.</p>
<div id="outcome" class="outcome" role="status" aria-live="polite" tabindex="-1" hidden></div>
<form id="verify-form" method="post">
<fieldset id="verify-fields" disabled>
<button type="submit">Confirm my email address</button>
</fieldset>
</form>`,
  })

// Browser code (plain ES2020 module) kept free of backticks, `${` and backslashes: it sits in a
// template literal.
export const VERIFY_EMAIL_SCRIPT = `import { describeFailure, postJson, showOutcome, takeToken } from './common.js'

const token = takeToken()
const form = document.getElementById('verify-form')
const fields = document.getElementById('verify-fields')
const outcome = document.getElementById('outcome')

if (!token) {
  showOutcome(outcome, 'error', [
    'This link is incomplete: the part that identifies your address is missing.',
    'Open the link from the email again, or copy the whole address into the address bar.',
  ])
} else {
  fields.disabled = false
  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    fields.disabled = true
    form.setAttribute('aria-busy', 'true')
    const result = await postJson('auth/verify-email', { token })
    form.removeAttribute('aria-busy')
    if (result.ok) {
      form.hidden = true
      showOutcome(outcome, 'success', ['Your email address is confirmed.'])
      return
    }
    const failure = describeFailure(result, 'Ask for a new confirmation email and use the link in the newest one.')
    showOutcome(outcome, 'error', failure.lines, failure.items)
    // a used or expired link cannot work again: leave the button disabled
    fields.disabled = failure.final
  })
}
`
