import { websocketConnect } from '@gale/client';

// The server of examples/server-echo (`node server.js` there first).
const url = process.env.URL ?? 'ws://127.0.0.1:8888/websocket';
const connection = await websocketConnect(url);
await connection.writeMessage('hello');
console.log(await connection.readMessage()); // "You said: hello"
await connection.close();
