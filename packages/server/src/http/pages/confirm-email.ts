import { pageHtml } from './html.js'

/**
 * The page behind the link confirming a new email address (POST /auth/email). It asks for a click
 * rather than confirming on load: mail scanners open links, and a GET must never use up the token.
 */
export const confirmEmailHtml = (): string =>
  pageHtml({
    title: 'Confirm your new email address',
    script: 'confirm-email',
    mainHtml: `<h1>Confirm your new email address</h1>
<p>Press the button to make this address the address of your account.</p>
<div id="outcome" class="outcome" role="status" aria-live="polite" tabindex="-1" hidden></div>
<form id="confirm-form" method="post">
<fieldset id="confirm-fields" disabled>
<button type="submit">Confirm my new email address</button>
</fieldset>
</form>`,
  })

// Browser code (plain ES2020 module) kept free of backticks, `${` and backslashes: it sits in a
// template literal.
export const CONFIRM_EMAIL_SCRIPT = `import { describeFailure, postJson, showOutcome, takeToken } from './common.js'

const token = takeToken()
const form = document.getElementById('confirm-form')
const fields = document.getElementById('confirm-fields')
const outcome = document.getElementById('outcome')

if (!token) {
  showOutcome(outcome, 'error', [
    'This link is incomplete: the part that identifies your new address is missing.',
    'Open the link from the email again, or copy the whole address into the address bar.',
  ])
} else {
  fields.disabled = false
  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    fields.disabled = true
    form.setAttribute('aria-busy', 'true')
    const result = await postJson('auth/email/confirm', { token })
    form.removeAttribute('aria-busy')
    if (result.ok) {
      form.hidden = true
      showOutcome(outcome, 'success', ['Your new email address is confirmed: sign in with it from now on.'])
      return
    }
    const failure = describeFailure(result, 'Change your address again where you manage your account and use the link in the newest email.')
    showOutcome(outcome, 'error', failure.lines, failure.items)
    fields.disabled = failure.final
  })
}
`
