// Browser code (plain ES2020 module) shared by the account pages, served as /pages/common.js. Kept
// free of backticks, `${` and backslashes: it sits in a template literal.
export const COMMON_SCRIPT = `const FIELD_LABELS = { password: 'New password', token: 'Link', code: 'Code', recoveryCode: 'Recovery code' }

/**
 * Reads the one-time token and takes it out of the address bar at once, so it stays out of the
 * history and of anything that reads the address later. Returns '' when there is none.
 */
export function takeToken() {
  const url = new URL(location.href)
  if (!url.searchParams.has('token')) return ''
  const token = (url.searchParams.get('token') || '').trim()
  url.searchParams.delete('token')
  history.replaceState(history.state, '', url.pathname + url.search + url.hash)
  return token
}

/**
 * POSTs JSON to an API path relative to this page (the server may be mounted under a path behind a
 * proxy). Never rejects: a network failure is { ok: false, status: 0 }. A success carries its JSON
 * body, if any, as body. options.credentials: 'omit' unless a page signs in ('same-origin').
 */
export async function postJson(path, body, options) {
  let response
  try {
    response = await fetch(new URL(path, location.href), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/problem+json, application/json' },
      body: JSON.stringify(body),
      // the reset and verification endpoints need no session: the refresh cookie stays home
      credentials: (options && options.credentials) || 'omit',
      cache: 'no-store',
    })
  } catch (error) {
    console.warn('request failed', error)
    return { ok: false, status: 0, problem: {}, retryAfter: null }
  }
  if (response.ok) {
    let answer = null
    try {
      answer = response.status === 204 ? null : await response.json()
    } catch {
      // no JSON body: the status says it all
    }
    return { ok: true, status: response.status, body: answer }
  }
  let problem = {}
  try {
    const body = await response.json()
    if (body && typeof body === 'object') problem = body
  } catch {
    // not JSON (a proxy's error page): the status alone describes it
  }
  return { ok: false, status: response.status, problem, retryAfter: response.headers.get('retry-after') }
}

function waitFor(retryAfter) {
  const seconds = Number(retryAfter)
  if (!retryAfter || !Number.isFinite(seconds) || seconds <= 0) return 'Try again in a moment.'
  if (seconds > 90) return 'Try again in ' + Math.ceil(seconds / 60) + ' minutes.'
  return 'Try again in ' + Math.ceil(seconds) + (seconds > 1 ? ' seconds.' : ' second.')
}

/**
 * What the user reads about a failed request: paragraphs, list items, whether the link can never
 * work again (final), and the form field the problem is about.
 */
export function describeFailure(failure, newLinkHint) {
  const problem = failure.problem
  const detail = typeof problem.detail === 'string' ? problem.detail : ''
  const result = { lines: [], items: [], final: false, field: '' }
  if (failure.status === 0) {
    result.lines = ['The server could not be reached. Check your connection and try again.']
  } else if (problem.code === 'ONE_TIME_TOKEN_INVALID') {
    result.lines = [detail || 'This link is invalid or has expired.', newLinkHint]
    result.final = true
  } else if (problem.code === 'WEAK_PASSWORD') {
    result.lines = [detail || 'Choose a stronger password.']
    result.field = 'password'
  } else if (problem.code === 'VALIDATION_FAILED' && Array.isArray(problem.errors) && problem.errors.length) {
    result.lines = ['Please correct the following:']
    for (const error of problem.errors) {
      const field = error && typeof error.field === 'string' ? error.field : ''
      const message = error && typeof error.message === 'string' ? error.message : 'is invalid'
      result.items.push((FIELD_LABELS[field] || field || 'Form') + ': ' + message)
      if (!result.field) result.field = field
    }
  } else if (failure.status === 429) {
    result.lines = ['Too many attempts. ' + waitFor(failure.retryAfter)]
  } else if (failure.status === 503) {
    result.lines = ['The service is temporarily unavailable. ' + waitFor(failure.retryAfter)]
  } else if (failure.status >= 500) {
    result.lines = ['Something went wrong on the server (HTTP ' + failure.status + '). Try again later.']
  } else {
    result.lines = [detail || 'The request was refused (HTTP ' + failure.status + ').']
  }
  return result
}

/** Shows an outcome (kind 'success' or 'error') as text only, and moves focus to it. */
export function showOutcome(outcome, kind, lines, items) {
  const children = lines.map((line) => {
    const paragraph = document.createElement('p')
    paragraph.textContent = line
    return paragraph
  })
  if (items && items.length) {
    const list = document.createElement('ul')
    for (const item of items) {
      const entry = document.createElement('li')
      entry.textContent = item
      list.append(entry)
    }
    children.push(list)
  }
  outcome.replaceChildren(...children)
  outcome.className = 'outcome outcome-' + kind
  outcome.hidden = false
  outcome.focus()
}
`
