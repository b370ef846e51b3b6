// The gale server for the server benchmark (server.mjs): gale-app.mjs's application on Node,
// through app.listen(). Listens on 127.0.0.1 and prints `LISTENING <port>`. Run with --expose-gc
// to let SIGUSR2 collect.
import { app } from './gale-app.mjs';
import './peer-process.mjs';

const port = Number(process.argv[2] ?? 0);

const server = await app.listen(port, '127.0.0.1');
server.on('error', (error) => process.stderr.write(`gale-echo: ${error.message}\n`));
process.stdout.write(`LISTENING ${server.address().port}\n`);
