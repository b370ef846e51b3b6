import { afterEach } from 'vitest';
import type { ClientConnection } from '../src/index.node.ts';

/**
 * Registers an afterEach hook of the calling test file that closes every connection handed to
 * the returned function during the test (one already closed is skipped), so that a failing test
 * leaves no socket open for the next one.
 */
export function closeAfterEach(): <T extends ClientConnection>(connection: T) => T {
  const connections: ClientConnection[] = [];
  afterEach(async () => {
    await Promise.all(
      connections.splice(0).map(async (connection) => {
        try {
          await connection.close();
        } catch {
          // Already closed.
        }
      }),
    );
  });
  return (connection) => {
    connections.push(connection);
    return connection;
  };
}
