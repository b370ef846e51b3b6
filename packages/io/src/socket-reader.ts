import { Buffer } from 'node:buffer';
import { connect, type Socket } from 'node:net';
import type { ReceiveOptions } from '@gale/frame';
import { sharedReadBuffer } from './buffers.js';
import type { Connection } from './connection.js';

const BORROWED: ReceiveOptions = Object.freeze({ borrowed: true });

/**
 * Opens a plain TCP socket that reads into the process's shared read buffer (`net.connect`'s
 * `onread`) instead of a fresh buffer per read. Until {@link attach}, it hands what it reads to
 * the socket's 'data' listeners as copies (`node:http`'s client parses the opening handshake
 * there and keeps the bytes after the 101); from then on, straight to the connection, as borrowed
 * bytes that the protocol parses before the next read overwrites them.
 */
export class SocketReader {
  readonly socket: Socket;
  #connection: Connection | null = null;

  constructor(host: string, port: number) {
    this.socket = connect({
      host,
      port,
      onread: {
        buffer: sharedReadBuffer(),
        // Always true: the connection pauses the socket itself when it must.
        callback: (length: number, buffer: Uint8Array) => this.#read(length, buffer as Buffer),
      },
    });
  }

  /** From now on every read goes to `connection.receive(bytes, { borrowed: true })`. */
  attach(connection: Connection): void {
    this.#connection = connection;
  }

  #read(length: number, buffer: Buffer): true {
    const connection = this.#connection;
    if (connection !== null) {
      connection.receive(buffer.subarray(0, length), BORROWED);
      return true;
    }
    const chunk = Buffer.allocUnsafeSlow(length);
    buffer.copy(chunk, 0, 0, length);
    this.socket.emit('data', chunk);
    return true;
  }
}
