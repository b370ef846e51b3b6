// The browser build: the same API over the native WebSocket.
import type { ConnectionController as Controller } from './controller.js';
import { type ClientEntry, clientEntry } from './entry.js';
import { connectBrowser } from './transport-browser.js';

export * from './exports.js';

const entry: ClientEntry = clientEntry(connectBrowser);
export const createConnection: ClientEntry['createConnection'] = entry.createConnection;
export const websocketConnect: ClientEntry['websocketConnect'] = entry.websocketConnect;
export const ConnectionController: ClientEntry['ConnectionController'] = entry.ConnectionController;
export type ConnectionController = Controller;
