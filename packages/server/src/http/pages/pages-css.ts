// The account pages' one stylesheet, served as /pages/pages.css (the CSP allows no inline style).
export const PAGES_CSS = `:root {
  color-scheme: light dark;
  --text: #1c1e21;
  --muted: #5b6169;
  --surface: #ffffff;
  --page: #f3f4f6;
  --border: #c9ced6;
  --accent: #2952cc;
  --accent-text: #ffffff;
  --success: #1d6b35;
  --success-surface: #e7f5ec;
  --error: #a4161a;
  --error-surface: #fdecec;
}

@media (prefers-color-scheme: dark) {
  :root {
    --text: #e8eaed;
    --muted: #a9b0ba;
    --surface: #1f2226;
    --page: #15171a;
    --border: #454b54;
    --accent: #8ab0ff;
    --accent-text: #0d1526;
    --success: #8fd9a8;
    --success-surface: #173322;
    --error: #ffaaa8;
    --error-surface: #3d1a1a;
  }
}

* {
  box-sizing: border-box;
}

[hidden] {
  display: none !important;
}

body {
  margin: 0;
  min-height: 100vh;
  background: var(--page);
  color: var(--text);
  font: 16px/1.5 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif;
}

main {
  max-width: 28rem;
  margin: 4rem auto;
  padding: 2rem;
  background: var(--surface);
  border: 1px solid var(--border);
  border-radius: 0.5rem;
}

@media (max-width: 32rem) {
  main {
    margin: 0;
    min-height: 100vh;
    border: 0;
    border-radius: 0;
  }
}

h1 {
  margin: 0 0 1rem;
  font-size: 1.5rem;
  line-height: 1.25;
}

fieldset {
  margin: 0;
  padding: 0;
  border: 0;
}

label {
  display: block;
  margin-top: 1rem;
  font-weight: 600;
}

input {
  display: block;
  width: 100%;
  margin-top: 0.25rem;
  padding: 0.6rem 0.75rem;
  border: 1px solid var(--border);
  border-radius: 0.375rem;
  background: var(--surface);
  color: var(--text);
  font: inherit;
}

input[aria-invalid='true'] {
  border-color: var(--error);
}

.hint {
  margin: 0.25rem 0 0;
  color: var(--muted);
  font-size: 0.875rem;
}

button {
  width: 100%;
  margin-top: 1.5rem;
  padding: 0.7rem 1rem;
  border: 0;
  border-radius: 0.375rem;
  background: var(--accent);
  color: var(--accent-text);
  font: inherit;
  font-weight: 600;
  cursor: pointer;
}

button:disabled {
  opacity: 0.55;
  cursor: not-allowed;
}

input:focus-visible,
button:focus-visible,
.outcome:focus-visible {
  outline: 3px solid var(--accent);
  outline-offset: 2px;
}

.outcome {
  margin: 0 0 1rem;
  padding: 0.75rem 1rem;
  border-radius: 0.375rem;
  border: 1px solid currentColor;
}

.outcome p,
.outcome ul {
  margin: 0;
}

.outcome p + p,
.outcome p + ul {
  margin-top: 0.5rem;
}

.outcome-success {
  color: var(--success);
  background: var(--success-surface);
}

.outcome-error {
  color: var(--error);
  background: var(--error-surface);
}
`
