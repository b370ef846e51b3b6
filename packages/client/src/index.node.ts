// The Node build: @gale/frame over node:net / node:tls.
import type { ConnectionController as Controller } from './controller.js';
import { type ClientEntry, clientEntry } from './entry.js';
import { connectNode } from './transport-node.js';

export * from './exports.js';

const entry: ClientEntry = clientEntry(connectNode);
export const createConnection: ClientEntry['createConnection'] = entry.createConnection;
export const websocketConnect: ClientEntry['websocketConnect'] = entry.websocketConnect;
export const ConnectionController: ClientEntry['ConnectionController'] = entry.ConnectionController;
export type ConnectionController = Controller;
