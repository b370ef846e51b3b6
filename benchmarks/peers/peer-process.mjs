// What every Node peer does the same way: SIGUSR2 runs a full collection (with --expose-gc,
// before an RSS reading), SIGTERM and SIGINT end the process, and one line, `LISTENING <port>`,
// tells the harness the server accepts connections.

process.on('SIGUSR2', () => globalThis.gc?.());
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));

/** Listens with `server` (a node:http server) on 127.0.0.1:`port`, then prints the ready line. */
export function listenPeer(server, port) {
  server.listen(port, '127.0.0.1', () => {
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('expected a TCP address');
    process.stdout.write(`LISTENING ${address.port}\n`);
  });
}
