import type { IncomingMessage } from 'node:http';
import { HTTPError } from '../errors.js';

/** The media type of a urlencoded form body. */
export const FORM_TYPE = 'application/x-www-form-urlencoded';
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Reads a request body of at most `limit` bytes. Rejects with `HTTPError` 413 as soon as it is
 * larger (before reading anything when `Content-Length` says so), discarding the rest so that the
 * connection stays usable, and with 400 if the client goes away mid-body.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const tooLarge = (): void => {
      // Keep reading, but into nothing: node:http then sees the end of this request and can
      // serve the next one on the connection. Its requestTimeout bounds a client that never stops.
      req.resume();
      reject(new HTTPError(413, `Request body larger than ${limit} bytes`));
    };
    const declared = Number(req.headers['content-length']);
    if (declared > limit) return tooLarge();
    if (req.readableEnded) return resolve(Buffer.alloc(0));
    if (req.destroyed) return reject(new HTTPError(400, 'Incomplete request body'));

    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        chunks.length = 0;
        tooLarge();
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(new HTTPError(400, 'Incomplete request body', { cause: error }));
    };
    // 'close' before 'end': the client went away (without an 'error' on some Node versions).
    const onClose = (): void => {
      cleanup();
      reject(new HTTPError(400, 'Incomplete request body'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/** The media type of a `Content-Type` header, lower-cased, without parameters. */
export function mediaType(header: string | undefined): string {
  return (header ?? '').split(';', 1)[0]?.trim().toLowerCase() ?? '';
}

/** `application/json` or an `application/…+json` type. */
export function isJsonType(type: string): boolean {
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'));
}

/** The body as UTF-8 text; `HTTPError` 400 if it is not UTF-8. */
export function decodeUtf8(body: Buffer): string {
  try {
    return UTF8.decode(body);
  } catch {
    throw new HTTPError(400, 'Request body is not valid UTF-8');
  }
}

/**
 * A body parsed as JSON. `HTTPError` 415 unless `contentType` is `application/json` (or
 * `…+json`), 400 for a body that is not UTF-8 JSON.
 */
export function parseJsonBody(contentType: string | undefined, body: Buffer): unknown {
  if (!isJsonType(mediaType(contentType))) {
    throw new HTTPError(415, 'Expected a application/json body');
  }
  const text = decodeUtf8(body);
  try {
    return JSON.parse(text);
  } catch {
    throw new HTTPError(400, 'Invalid JSON body');
  }
}

/** A body parsed as an HTML form; `HTTPError` 415 unless `contentType` is urlencoded. */
export function parseFormBody(contentType: string | undefined, body: Buffer): URLSearchParams {
  if (mediaType(contentType) !== FORM_TYPE) {
    throw new HTTPError(415, `Expected a ${FORM_TYPE} body`);
  }
  return new URLSearchParams(decodeUtf8(body));
}
