// Gale on Bun for the server benchmark (server.mjs): gale-app.mjs's application, the one
// gale-echo.mjs serves on Node, served by @gale/server/bun on Bun.serve's native WebSocket server.
// Run by Bun, not by Node (server.mjs starts it with the `bun` the benchmarks package installs):
//
//   node_modules/.bin/bun peers/gale-bun-echo.mjs 0
//
//   /echo    the echo app's exact echo (permessage-deflate offered; the load generator does not
//            ask for it)
//   /fanout  every connection subscribes to one topic; `publish:<n>[:<size>]` publishes n binary
//            messages of <size> bytes (default GALE_FANOUT_SIZE, 32) to everyone else, through
//            the application's broker, which Bun sends natively (framed once per message)
//
// Beside raw Bun (bun-echo.mjs) it measures what Gale costs on Bun. Listens on 127.0.0.1 and
// prints `LISTENING <port>`; SIGUSR2 runs a full collection.
import { serve } from '@gale/server/bun';
import { app } from './gale-app.mjs';

const port = Number(process.argv[2] ?? 0);

const server = serve(app, {
  port,
  hostname: '127.0.0.1',
  perMessageDeflate: process.env.GALE_BUN_DEFLATE !== '0',
});

process.on('SIGUSR2', () => Bun.gc(true));
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));

process.stdout.write(`LISTENING ${server.port}\n`);
