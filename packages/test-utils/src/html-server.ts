import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A page served by {@link serveHtml}. */
export interface HtmlServer {
  readonly port: number;
  /**
   * The page's URL on `host`: `127.0.0.1` is the same site as an app on another port of
   * 127.0.0.1 (cookies ignore ports; browsers call it `same-site`), `localhost` another site.
   */
  url(host: '127.0.0.1' | 'localhost', path?: string): string;
  close(): Promise<void>;
}

/**
 * Serves `html` (at every path, as `text/html`, never cached) on a free port of 127.0.0.1: a page
 * of another origin, such as a cross-site request forgery for a browser test to open. Close it
 * in `afterAll`.
 */
export async function serveHtml(html: string): Promise<HtmlServer> {
  const server = createServer((_request, response) => {
    response.writeHead(200, {
      'Content-Type': 'text/html; charset=utf-8',
      'Cache-Control': 'no-store',
    });
    response.end(html);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    url: (host, path = '/') => `http://${host}:${port}${path}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
