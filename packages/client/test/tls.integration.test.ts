import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { WebSocketServer } from 'ws';
import { ConnectionError, websocketConnect } from '../src/index.node.ts';

// A throwaway CA-less certificate for localhost, made by the system's openssl for this run.
let dir: string;
let cert: string;
let server: Server;
let wss: WebSocketServer;
let port: number;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gale-tls-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-days',
      '1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
  server = createServer({ cert, key: readFileSync(join(dir, 'key.pem')) });
  wss = new WebSocketServer({ server });
  wss.on('connection', (ws) =>
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })),
  );
  await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  for (const client of wss?.clients ?? []) client.terminate();
  wss?.close();
  await new Promise((resolve) => server?.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

describe('wss://', () => {
  test('a certificate the trusted CAs do not vouch for is refused with a ConnectionError', async () => {
    const error = await websocketConnect(`wss://localhost:${port}/`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as ConnectionError).cause).toMatchObject({ code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
  });

  test('a custom ca makes the same server trusted, and messages flow over TLS', async () => {
    const connection = await websocketConnect(`wss://localhost:${port}/`, { ca: cert });
    await connection.writeMessage('über TLS');
    expect(await connection.readMessage()).toBe('über TLS');
    await connection.writeMessage(new Uint8Array([0, 255, 7]));
    const bytes = (await connection.readMessage()) as Uint8Array;
    expect(bytes).toBeInstanceOf(Uint8Array);
    expect([...bytes]).toEqual([0, 255, 7]);
    await connection.close();
    expect(connection.state).toBe('closed');
  });

  test('the certificate must name the host dialled: 127.0.0.1 is in it, 127.0.0.2 is not', async () => {
    const ok = await websocketConnect(`wss://127.0.0.1:${port}/`, { ca: cert });
    await ok.close();
    const error = await websocketConnect(`wss://127.0.0.2:${port}/`, { ca: cert }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as ConnectionError).cause).toMatchObject({
      code: 'ERR_TLS_CERT_ALTNAME_INVALID',
    });
  });
});
