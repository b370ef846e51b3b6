import { existsSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import sirv from 'sirv';
import { InvalidSettingError } from '../errors.js';

/**
 * Serves the files under `root` (a built front end) with sirv: ETags and 304s, and, for paths
 * that look like client-side routes (no file extension), `index.html` as a single-page-app
 * fallback. The Application calls it for GET and HEAD requests no route matched; it calls `next`
 * when nothing fits (a missing `/app.js`, or no `index.html`), and the caller answers 404.
 *
 * The folder is listed once, now (sirv's production mode): files added later are not served, so
 * build the front end before starting. Throws `InvalidSettingError` if `root` does not exist.
 */
export function createStaticHandler(
  root: string,
): (req: IncomingMessage, res: ServerResponse, next: () => void) => void {
  if (!existsSync(root)) {
    throw new InvalidSettingError(`staticPath ${JSON.stringify(root)} does not exist`);
  }
  return sirv(root, { single: true, etag: true, dev: false });
}
