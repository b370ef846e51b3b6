import { fileURLToPath } from 'node:url';
import { Application, type ApplicationOptions, WebSocketHandler } from '@gale/server';

/** WS /websocket: the classic Tornado demo, answering every message with "You said: …". */
export class EchoWebSocket extends WebSocketHandler {
  override onMessage(message: string | Uint8Array): Promise<void> {
    const text = typeof message === 'string' ? message : Buffer.from(message).toString();
    return this.writeMessage(`You said: ${text}`);
  }
}

/** WS /echo: exact echo of text and binary, permessage-deflate offered; for tests and benchmarks. */
export class ExactEcho extends WebSocketHandler {
  override getCompressionOptions(): object {
    return {};
  }

  override onMessage(message: string | Uint8Array): void {
    // Not awaited: echoes are pipelined; the send-buffer limit guards a client that stops reading.
    void this.writeMessage(message, { binary: typeof message !== 'string' });
  }
}

/** The echo application: both WebSocket routes. `pnpm dev` (Vite) and `pnpm start` share it. */
export function createApplication(options: ApplicationOptions = {}): Application {
  return new Application(
    [
      ['/websocket', EchoWebSocket],
      ['/echo', ExactEcho],
    ],
    { websocketMaxMessageSize: 16 * 1024 * 1024, ...options },
  );
}

// `pnpm start`: the production build of the page (dist/client) and the routes on PORT and HOST.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const port = Number(process.env['PORT'] ?? 8888);
  const host = process.env['HOST'] ?? '127.0.0.1';
  // HANDSHAKE_TIMEOUT (seconds) shortens how long an unfinished upgrade may hang, as tests need.
  const handshakeTimeout = Number(process.env['HANDSHAKE_TIMEOUT'] ?? 10);
  const app = createApplication({
    handshakeTimeout,
    staticPath: fileURLToPath(new URL('./client', import.meta.url)),
  });
  let actualPort: number;
  if ('bun' in process.versions) {
    // `pnpm start:bun`: the same application on Bun's own HTTP and WebSocket server.
    const { serve } = await import('@gale/server/bun');
    actualPort = serve(app, { port, hostname: host }).port;
  } else {
    const address = (await app.listen(port, host)).address();
    actualPort = typeof address === 'object' && address ? address.port : port;
  }
  console.log(`echo: http://${host}:${actualPort}/ (WebSocket /websocket and /echo)`);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      void app.close().then(() => process.exit(0));
    });
  }
}
