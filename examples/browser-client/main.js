import { createConnection } from '@gale/client';

const connection = createConnection(`ws://${location.host}/chat`, { reconnect: true });
connection.addEventListener('statechange', () => {
  document.body.dataset.state = connection.state; // connecting | open | reconnecting | …
  if (connection.state === 'open') void connection.writeMessage('hello');
});
for await (const message of connection) {
  console.log('received', message); // a string, or a Uint8Array for binary
  document.querySelector('output').textContent = message;
}
