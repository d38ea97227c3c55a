const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
}

/** Escapes text for element content and quoted attribute values. */
export const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (char) => ENTITIES[char] ?? char)

export interface PageParts {
  /** Plain text, escaped here. */
  title: string
  /** The page's module script under `pages/`, without `.js`. */
  script: string
  /** Trusted markup for `<main>`: whatever it interpolates must already be escaped. */
  mainHtml: string
}

/**
 * The frame every account page shares. Asset URLs are relative, so the pages also work when the
 * server is mounted under a path behind a proxy; no inline script or style, for the CSP.
 */
export const pageHtml = ({ title, script, mainHtml }: PageParts): string => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>${escapeHtml(title)}</title>
<link rel="stylesheet" href="pages/pages.css">
<script type="module" src="pages/${escapeHtml(script)}.js"></script>
</head>
<body>
<main>
${mainHtml}
<noscript><p class="outcome outcome-error">This page needs JavaScript. Turn it on and open the link again.</p></noscript>
</main>
</body>
</html>
`
