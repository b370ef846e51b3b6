/** The header a POST carries the XSRF token in, as the server (Tornado's `xsrf_cookies`) reads it. */
export const XSRF_HEADER = 'X-XSRFToken';

/**
 * The token in the `_xsrf` cookie, which `GET /cart` sets (it is not HttpOnly, so that this page
 * can send it back in `X-XSRFToken`), or null when the browser has none: cleared since the page
 * loaded, say.
 */
export function xsrfCookie(cookies: string = document.cookie): string | null {
  for (const pair of cookies.split(';')) {
    const separator = pair.indexOf('=');
    if (separator !== -1 && pair.slice(0, separator).trim() === '_xsrf') {
      return pair.slice(separator + 1).trim() || null;
    }
  }
  return null;
}
