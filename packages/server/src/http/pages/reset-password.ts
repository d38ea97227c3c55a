import type { Config } from '../../config.js'
import { escapeHtml, pageHtml } from './html.js'

/**
 * The page behind the password-reset link. The fieldset starts disabled: without the script there
 * is no token to send, and a bare form would put the password in a URL.
 */
export function resetPasswordHtml(config: Pick<Config, 'passwordMinLength' | 'passwordMaxLength'>): string {
  const min = escapeHtml(String(config.passwordMinLength))
  const max = escapeHtml(String(config.passwordMaxLength))
  const lengths = `minlength="${min}" maxlength="${max}"`
  return pageHtml({
    title: 'Choose a new password',
    script: 'reset-password',
    mainHtml: `<h1>Choose a new password</h1>
<div id="outcome" class="outcome" role="status" aria-live="polite" tabindex="-1" hidden></div>
<form id="reset-form" method="post">
<fieldset id="reset-fields" disabled>
<label for="password">New password</label>
<input id="password" name="password" type="password" autocomplete="new-password" required ${lengths} aria-describedby="password-hint">
<p id="password-hint" class="hint">At least ${min} characters. A few unrelated words make a strong password.</p>
<label for="password-repeat">Repeat the new password</label>
<input id="password-repeat" name="password-repeat" type="password" autocomplete="new-password" required ${lengths}>
<button type="submit">Change my password</button>
</fieldset>
</form>`,
  })
}

// Browser code (plain ES2020 module) kept free of backticks, `${` and backslashes: it sits in a
// template literal.
export const RESET_PASSWORD_SCRIPT = `import { describeFailure, postJson, showOutcome, takeToken } from './common.js'

const token = takeToken()
const form = document.getElementById('reset-form')
const fields = document.getElementById('reset-fields')
const password = document.getElementById('password')
const repeat = document.getElementById('password-repeat')
const outcome = document.getElementById('outcome')

// a mismatch blocks the submit like any other invalid field, with the browser's own message bubble
function checkRepeat() {
  repeat.setCustomValidity(repeat.value === password.value ? '' : 'The two passwords are not the same.')
}

function clearFieldError() {
  password.removeAttribute('aria-invalid')
  password.setAttribute('aria-describedby', 'password-hint')
}

password.addEventListener('input', () => {
  clearFieldError()
  checkRepeat()
})
repeat.addEventListener('input', checkRepeat)

if (!token) {
  showOutcome(outcome, 'error', [
    'This link is incomplete: the part that identifies your request is missing.',
    'Open the link from the email again, or copy the whole address into the address bar.',
  ])
} else {
  fields.disabled = false
  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    checkRepeat()
    if (!form.reportValidity()) return
    fields.disabled = true
    form.setAttribute('aria-busy', 'true')
    const result = await postJson('auth/reset-password', { token, password: password.value })
    form.removeAttribute('aria-busy')
    if (result.ok) {
      password.value = ''
      repeat.value = ''
      form.hidden = true
      showOutcome(outcome, 'success', ['Your password has been changed. You can sign in now.'])
      return
    }
    const failure = describeFailure(result, 'Ask for a new password-reset email and use the link in the newest one.')
    showOutcome(outcome, 'error', failure.lines, failure.items)
    // a used or expired link cannot work again: leave the form disabled
    fields.disabled = failure.final
    if (!failure.final && failure.field === 'password') {
      password.setAttribute('aria-invalid', 'true')
      password.setAttribute('aria-describedby', 'outcome password-hint')
      password.focus()
    }
  })
}
`
