import { hash, randomBytes } from 'node:crypto';
import { HandshakeError, InvalidArgumentError } from './errors.js';
import type { ExtensionOffer } from './extension.js';
import { isToken, parseExtensions, parseTokenList, parseUpgrade } from './headers.js';

/**
 * Request or response headers in the shape of Node's `IncomingMessage.headers`: lower-case names,
 * and an array where a header arrived on several lines and was not joined.
 */
export type HeaderMap = Readonly<Record<string, string | string[] | undefined>>;

/** Extra header fields to write: one line per array element. Names must be tokens. */
export type HeaderFields = Readonly<Record<string, string | readonly string[]>>;

/** The GUID of RFC 6455 §1.3, appended to the key before hashing. */
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/**
 * The `Sec-WebSocket-Accept` value for a `Sec-WebSocket-Key` (RFC 6455 §4.2.2 step 5.4): the
 * base64 of the SHA-1 of the key concatenated with the GUID. The server sends it in its 101; the
 * client compares it with what came back ({@link validateResponse} does both for you).
 */
export function acceptKey(key: string): string {
  // One-shot (Node 20.12+): a third of createHash()'s cost, paid on every handshake.
  return hash('sha1', key + GUID, 'base64');
}

/**
 * A fresh `Sec-WebSocket-Key` for a client request (RFC 6455 §4.1: "a randomly selected 16-byte
 * value that has been base64-encoded"). Pass a fixed `random` in tests to get a fixed key; keep
 * the result to hand to {@link validateResponse}.
 *
 * @throws InvalidArgumentError if `random` returns other than 16 bytes.
 */
export function generateKey(random: (size: number) => Uint8Array = randomBytes): string {
  const bytes = random(16);
  if (bytes.length !== 16) {
    throw new InvalidArgumentError(`Expected 16 random bytes for the key, got ${bytes.length}`);
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** What a valid opening handshake asked for; the server decides what to grant. */
export interface ServerHandshake {
  /** `Sec-WebSocket-Key`, to pass to {@link buildResponse}. */
  readonly key: string;
  /** Offered subprotocols in the client's order of preference; may be empty. */
  readonly subprotocols: string[];
  /** Offered extensions in order; hand them to the extension negotiator. */
  readonly extensions: ExtensionOffer[];
  /** `Origin`, to check against an allow list (RFC 6455 §10.2); absent for non-browser clients. */
  readonly origin: string | undefined;
  /** `Host`, the authority the client believes it is talking to. */
  readonly host: string;
}

/**
 * Check a client's opening handshake (RFC 6455 §4.2.1) and return what it asks for. The server
 * then picks a subprotocol from `subprotocols`, negotiates `extensions`, runs its own checks
 * (origin, authentication) and writes {@link buildResponse}, or {@link buildRejection} for the
 * `HandshakeError` thrown here.
 *
 * Checks run in the order of ws `handleUpgrade`, so a client learns of the most basic problem
 * first: method (405 with `Allow: GET`), `Upgrade`, `Connection`, `Sec-WebSocket-Version` (426
 * with `Sec-WebSocket-Version: 13`), `Sec-WebSocket-Key`, `Host`, then `Sec-WebSocket-Protocol`,
 * `Sec-WebSocket-Extensions` and `Origin`, all 400. §4.2.1: if the handshake does not match,
 * "including but not limited to any violations of the ABNF grammar specified for the components
 * of the handshake, the server MUST stop processing the client's handshake and return an HTTP
 * response with an appropriate error code (such as 400 Bad Request)".
 *
 * @throws HandshakeError carrying the status and headers to answer with.
 */
export function validateRequest(request: {
  readonly method: string;
  readonly headers: HeaderMap;
}): ServerHandshake {
  const { headers } = request;

  // §4.2.1 item 1: "An HTTP/1.1 or higher GET request". Methods are case-sensitive (RFC 7231
  // §4.1) and RFC 7231 §6.5.5 says a 405 "MUST generate an Allow header field".
  if (request.method !== 'GET') {
    throw new HandshakeError('ERR_HANDSHAKE_METHOD', 'Method must be GET', 405, { Allow: 'GET' });
  }

  // §4.2.1 item 3: "An |Upgrade| header field containing the value "websocket", treated as an
  // ASCII case-insensitive value."
  if (!listIncludes(header(headers, 'upgrade'), 'websocket', parseUpgrade)) {
    throw new HandshakeError('ERR_HANDSHAKE_UPGRADE', 'Can "Upgrade" only to "WebSocket".', 400);
  }

  // §4.2.1 item 4: "A |Connection| header field that includes the token "Upgrade", treated as an
  // ASCII case-insensitive value." — so `keep-alive, Upgrade` (Firefox) is fine.
  if (!listIncludes(header(headers, 'connection'), 'upgrade', parseTokenList)) {
    throw new HandshakeError('ERR_HANDSHAKE_CONNECTION', '"Connection" must be "Upgrade".', 400);
  }

  // §4.2.2 / §4.4: on a version it does not understand "the server MUST abort the WebSocket
  // handshake ... and instead send an appropriate HTTP error code (such as 426 Upgrade Required)
  // and a |Sec-WebSocket-Version| header field indicating the version(s) the server is capable of
  // understanding." Duplicate lines count as a version we do not understand.
  if (single(header(headers, 'sec-websocket-version')) !== '13') {
    throw new HandshakeError('ERR_HANDSHAKE_VERSION', 'Sec-WebSocket-Version must be 13', 426, {
      'Sec-WebSocket-Version': '13',
    });
  }

  // §4.2.1 item 5: base64 that "when decoded, is 16 bytes in length". §11.3.1: the field "MUST NOT
  // appear more than once in an HTTP request" — Node joins repeated lines with `, `, which fails
  // the format check; an array of two fails `single`.
  const rawKey = header(headers, 'sec-websocket-key');
  if (rawKey === undefined) {
    throw new HandshakeError('ERR_HANDSHAKE_KEY', 'Missing Sec-WebSocket-Key', 400);
  }
  const key = single(rawKey);
  if (key === undefined || !isValidKey(key)) {
    throw new HandshakeError('ERR_HANDSHAKE_KEY', 'Invalid Sec-WebSocket-Key', 400);
  }

  // RFC 7230 §5.4: "A server MUST respond with a 400 (Bad Request) status code to any HTTP/1.1
  // request message that lacks a Host header field and to any request message that contains more
  // than one Host header field". §4.1 gives the WebSocket URI's host, so it is never empty here.
  const host = single(header(headers, 'host'));
  if (host === undefined || host === '') {
    throw new HandshakeError('ERR_HANDSHAKE_HOST', 'Missing or invalid Host header', 400);
  }

  const subprotocols = parseSubprotocols(header(headers, 'sec-websocket-protocol'));

  const extensions = extensionsOf(headers, 400);

  // Two Origin lines would let an origin check compare against the wrong one (RFC 6454 §7.3: a
  // user agent "MUST NOT include more than one Origin header field").
  const rawOrigin = header(headers, 'origin');
  const origin = single(rawOrigin);
  if (rawOrigin !== undefined && origin === undefined) {
    throw new HandshakeError('ERR_HANDSHAKE_HEADER', 'Invalid Origin header', 400);
  }

  return { key, subprotocols, extensions, origin, host };
}

/** `Sec-WebSocket-Protocol` of a request: `1#token` (§4.1), duplicates refused. */
function parseSubprotocols(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  let subprotocols: string[];
  try {
    subprotocols = parseTokenList(joinLines(value));
  } catch (error) {
    throw new HandshakeError(
      'ERR_HANDSHAKE_HEADER',
      'Invalid Sec-WebSocket-Protocol header',
      400,
      {},
      { cause: error },
    );
  }
  if (subprotocols.length === 0) {
    throw new HandshakeError('ERR_HANDSHAKE_HEADER', 'Empty Sec-WebSocket-Protocol header', 400);
  }
  // §4.1: the client's subprotocols must be "unique strings"; a set keeps this linear.
  const seen = new Set<string>();
  for (const subprotocol of subprotocols) {
    if (seen.has(subprotocol)) {
      throw new HandshakeError(
        'ERR_HANDSHAKE_HEADER',
        `Duplicate subprotocol in Sec-WebSocket-Protocol: ${subprotocol}`,
        400,
      );
    }
    seen.add(subprotocol);
  }
  return subprotocols;
}

/** Options of {@link buildResponse}. */
export interface ResponseOptions {
  /** The client's `Sec-WebSocket-Key`, from {@link ServerHandshake.key}. */
  readonly key: string;
  /** The chosen subprotocol, which must be one the client offered; omitted when null. */
  readonly subprotocol?: string | null | undefined;
  /** The accepted extensions, already serialized (see `serializeExtensions`); omitted when empty. */
  readonly extensions?: string | null | undefined;
  /** Extra header fields, e.g. `Set-Cookie`; may not repeat the ones the handshake writes. */
  readonly headers?: HeaderFields | undefined;
}

/**
 * The server's `101 Switching Protocols` response head (RFC 6455 §4.2.2 step 5), ending with the
 * blank line. Write it to the socket as UTF-8; the connection then speaks WebSocket, so hand the
 * socket (and any bytes already read past the request head) to the protocol.
 *
 * @throws InvalidArgumentError if the subprotocol is not a token, or a header name is not a
 *   token or a value holds CR, LF, NUL or another control character (response splitting), or
 *   an extra header would repeat one the handshake owns (§11.3.3: `Sec-WebSocket-Accept` "MUST
 *   NOT appear more than once in an HTTP response").
 */
export function buildResponse(options: ResponseOptions): string {
  let head =
    'HTTP/1.1 101 Switching Protocols\r\n' +
    'Upgrade: websocket\r\n' +
    'Connection: Upgrade\r\n' +
    `Sec-WebSocket-Accept: ${acceptKey(options.key)}\r\n`;
  const { subprotocol, extensions } = options;
  if (subprotocol !== undefined && subprotocol !== null) {
    if (!isToken(subprotocol)) {
      throw new InvalidArgumentError(`Subprotocol ${JSON.stringify(subprotocol)} is not a token`);
    }
    head += `Sec-WebSocket-Protocol: ${subprotocol}\r\n`;
  }
  if (extensions !== undefined && extensions !== null && extensions !== '') {
    head += field('Sec-WebSocket-Extensions', extensions);
  }
  head += fields(options.headers, RESPONSE_OWNED);
  return `${head}\r\n`;
}

/** Header fields that {@link buildResponse} writes itself. */
const RESPONSE_OWNED: ReadonlySet<string> = new Set([
  'upgrade',
  'connection',
  'sec-websocket-accept',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
]);

/** Header fields whose value {@link buildRejection} computes. */
const REJECTION_OWNED: ReadonlySet<string> = new Set([
  'connection',
  'content-type', // Only as an array: a single value replaces the default.
  'content-length',
  'transfer-encoding',
]);

/**
 * An HTTP/1.1 error response (head and `text/plain` body) refusing the handshake, such as the
 * `status` and `headers` of a `HandshakeError`. Write it to the socket as UTF-8 (`Content-Length`
 * counts UTF-8 bytes), then end and destroy the socket: it says `Connection: close`.
 *
 * `headers` may replace `Content-Type`, but not `Connection`, `Content-Length` or
 * `Transfer-Encoding`, which frame the response.
 *
 * @throws InvalidArgumentError if `status` is not an integer from 100 to 599, or a header name is
 *   not a token or a value holds CR, LF, NUL or another control character.
 */
export function buildRejection(status: number, message: string, headers?: HeaderFields): string {
  if (!Number.isInteger(status) || status < 100 || status > 599) {
    throw new InvalidArgumentError(`Invalid HTTP status ${status}`);
  }
  let contentType = 'text/plain; charset=utf-8';
  const extra: Record<string, string | readonly string[]> = {};
  if (headers !== undefined) {
    for (const [name, value] of Object.entries(headers)) {
      if (name.toLowerCase() === 'content-type' && typeof value === 'string') contentType = value;
      else extra[name] = value;
    }
  }
  return (
    `HTTP/1.1 ${status} ${reasonPhrase(status)}\r\n` +
    'Connection: close\r\n' +
    field('Content-Type', contentType) +
    `Content-Length: ${Buffer.byteLength(message, 'utf8')}\r\n` +
    fields(extra, REJECTION_OWNED) +
    `\r\n${message}`
  );
}

/** Options of {@link createRequest}. */
export interface RequestOptions {
  /** The `Host` header: the URI's host, with `:port` unless it is the scheme's default. */
  readonly host: string;
  /** The resource name: path and query, starting with `/`, percent-encoded (`url.pathname + url.search`). */
  readonly path: string;
  /** A fixed `Sec-WebSocket-Key` (tests); a fresh {@link generateKey} otherwise. */
  readonly key?: string | undefined;
  /** Subprotocols to offer, most preferred first; tokens, without duplicates. */
  readonly subprotocols?: readonly string[] | undefined;
  /** Extension offers, already serialized (see `serializeExtensions`); omitted when empty. */
  readonly extensions?: string | null | undefined;
  /** `Origin`, as a browser would send it (RFC 6455 §4.1 item 8). */
  readonly origin?: string | undefined;
  /** Extra header fields, e.g. `Authorization`; may not repeat the ones the handshake writes. */
  readonly headers?: HeaderFields | undefined;
}

/** A client's opening handshake request. */
export interface ClientRequest {
  /** The `Sec-WebSocket-Key` sent; keep it for {@link validateResponse}. */
  readonly key: string;
  /** The request head, ending with the blank line. */
  readonly head: string;
  /**
   * The same header fields but `Host`, in order, for an HTTP client that writes the request line
   * and `Host` itself (Node's `http.request`): checked exactly as `head` is.
   */
  readonly headers: HeaderFields;
}

/** Header fields that {@link createRequest} writes itself. */
const REQUEST_OWNED: ReadonlySet<string> = new Set([
  'host',
  'upgrade',
  'connection',
  'origin',
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
]);

/**
 * The client's opening handshake request head (RFC 6455 §4.1). Write `head` to the socket, read
 * the response head, and pass its status and headers with `key` and the offered subprotocols to
 * {@link validateResponse}.
 *
 * @throws InvalidArgumentError if `host` or `path` holds whitespace or control characters, `path`
 *   does not start with `/`, `key` is not a valid key, a subprotocol is not a token or repeats
 *   (§4.1: "unique strings ... [that] MUST all be valid tokens"), a header name is not a token, a
 *   value holds CR, LF, NUL or another control character, or an extra header would repeat one the
 *   handshake owns.
 */
export function createRequest(options: RequestOptions): ClientRequest {
  const { host, path, subprotocols = [], extensions, origin } = options;
  if (!isRequestTarget(host)) {
    throw new InvalidArgumentError(`Invalid host ${JSON.stringify(host)}`);
  }
  if (path.charCodeAt(0) !== 0x2f || !isRequestTarget(path)) {
    throw new InvalidArgumentError(`Invalid path ${JSON.stringify(path)}`);
  }
  const key = options.key ?? generateKey();
  if (!isValidKey(key)) {
    throw new InvalidArgumentError(`Invalid Sec-WebSocket-Key ${JSON.stringify(key)}`);
  }
  const seen = new Set<string>();
  for (const subprotocol of subprotocols) {
    if (!isToken(subprotocol)) {
      throw new InvalidArgumentError(`Subprotocol ${JSON.stringify(subprotocol)} is not a token`);
    }
    if (seen.has(subprotocol)) {
      throw new InvalidArgumentError(`Subprotocol ${JSON.stringify(subprotocol)} is duplicated`);
    }
    seen.add(subprotocol);
  }

  const headers: Record<string, string | readonly string[]> = {
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': key,
    'Sec-WebSocket-Version': '13',
  };
  if (subprotocols.length > 0) headers['Sec-WebSocket-Protocol'] = subprotocols.join(', ');
  if (extensions !== undefined && extensions !== null && extensions !== '') {
    headers['Sec-WebSocket-Extensions'] = extensions;
  }
  if (origin !== undefined) headers['Origin'] = origin;
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    if (REQUEST_OWNED.has(name.toLowerCase())) {
      throw new InvalidArgumentError(`Header ${name} is written by the handshake itself`);
    }
    headers[name] = value;
  }
  const head = `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n${fields(headers, NOTHING_OWNED)}\r\n`;
  return { key, head, headers };
}

const NOTHING_OWNED: ReadonlySet<string> = new Set();

/** What the server granted in its 101 response. */
export interface ClientHandshake {
  /** The subprotocol the server selected, or null if it selected none. */
  readonly subprotocol: string | null;
  /**
   * The extensions the server accepted, in order. The caller must check each against what it
   * offered (§4.1: an extension "not present in the client's handshake" MUST fail the connection).
   */
  readonly extensions: ExtensionOffer[];
}

/**
 * Check the server's response to {@link createRequest} (RFC 6455 §4.1, the client's checks on the
 * server's handshake) and return what it granted. The caller then negotiates `extensions`
 * (failing the connection on any it did not offer) and starts the protocol with any bytes read past
 * the response head.
 *
 * @throws HandshakeError whose `status` is the status received: `ERR_HANDSHAKE_STATUS` for any
 *   status but 101, then `ERR_HANDSHAKE_UPGRADE`, `ERR_HANDSHAKE_CONNECTION`,
 *   `ERR_HANDSHAKE_ACCEPT`, `ERR_HANDSHAKE_EXTENSION` or `ERR_HANDSHAKE_SUBPROTOCOL`. In every case
 *   §4.1 says "the client MUST _Fail the WebSocket Connection_".
 */
export function validateResponse(
  response: { readonly status: number; readonly headers: HeaderMap },
  expected: { readonly key: string; readonly subprotocols: readonly string[] },
): ClientHandshake {
  const { status, headers } = response;

  // §4.1: "If the status code received from the server is not 101, the client handles the
  // response per HTTP [RFC2616] procedures." — here, by reporting it; redirects and
  // authentication are the I/O layer's business.
  if (status !== 101) {
    const message =
      status >= 200 && status < 300
        ? `Server responded with ${status}: not a WebSocket endpoint`
        : `Server responded with ${status} ${reasonPhrase(status)}`;
    throw new HandshakeError('ERR_HANDSHAKE_STATUS', message, status);
  }

  // §4.1: "If the response lacks an |Upgrade| header field or the |Upgrade| header field contains
  // a value that is not an ASCII case-insensitive match for the value "websocket", the client
  // MUST _Fail the WebSocket Connection_." — so `websocket` must be the only protocol listed.
  const upgrade = parseOrNull(header(headers, 'upgrade'), parseUpgrade);
  if (upgrade === null || upgrade.length !== 1 || upgrade[0]?.toLowerCase() !== 'websocket') {
    throw new HandshakeError('ERR_HANDSHAKE_UPGRADE', 'Upgrade header must be "websocket"', status);
  }

  // §4.1: "If the response lacks a |Connection| header field or the |Connection| header field
  // doesn't contain a token that is an ASCII case-insensitive match for the value "Upgrade", the
  // client MUST _Fail the WebSocket Connection_."
  if (!listIncludes(header(headers, 'connection'), 'upgrade', parseTokenList)) {
    throw new HandshakeError(
      'ERR_HANDSHAKE_CONNECTION',
      'Connection header must include "Upgrade"',
      status,
    );
  }

  // §4.1: "If the response lacks a |Sec-WebSocket-Accept| header field or the
  // |Sec-WebSocket-Accept| contains a value other than the base64-encoded SHA-1 of the
  // concatenation of the |Sec-WebSocket-Key| (as a string, not base64-decoded) with the string
  // "258EAFA5-E914-47DA-95CA-C5AB0DC85B11" ... the client MUST _Fail the WebSocket Connection_."
  if (single(header(headers, 'sec-websocket-accept')) !== acceptKey(expected.key)) {
    throw new HandshakeError(
      'ERR_HANDSHAKE_ACCEPT',
      'Missing or invalid Sec-WebSocket-Accept header',
      status,
    );
  }

  const extensions = extensionsOf(headers, status);

  // §4.1: "If the response includes a |Sec-WebSocket-Protocol| header field and this header field
  // indicates the use of a subprotocol that was not present in the client's handshake ..., the
  // client MUST _Fail the WebSocket Connection_." §4.2.2 lets the server select exactly one.
  const rawSubprotocol = header(headers, 'sec-websocket-protocol');
  let subprotocol: string | null = null;
  if (rawSubprotocol !== undefined) {
    const selected = single(rawSubprotocol);
    if (selected === undefined || !expected.subprotocols.includes(selected)) {
      throw new HandshakeError(
        'ERR_HANDSHAKE_SUBPROTOCOL',
        expected.subprotocols.length === 0
          ? 'Server selected a subprotocol although none was offered'
          : 'Server selected a subprotocol that was not offered',
        status,
      );
    }
    subprotocol = selected;
  }

  return { subprotocol, extensions };
}

/** A header by lower-case name; a helper so that names stay strings, not property accesses. */
function header(headers: HeaderMap, name: string): string | string[] | undefined {
  return headers[name];
}

/** The value of a header that may appear once: undefined if absent or on several lines. */
function single(value: string | string[] | undefined): string | undefined {
  if (typeof value === 'string') return value;
  return value?.length === 1 ? value[0] : undefined;
}

/** A list-valued header as one string: RFC 7230 §3.2.2 lets lines be joined with commas. */
function joinLines(value: string | readonly string[]): string {
  return typeof value === 'string' ? value : value.join(',');
}

/** Parse a list-valued header, or null if it is absent or malformed. */
function parseOrNull(
  value: string | string[] | undefined,
  parse: (text: string) => string[],
): string[] | null {
  if (value === undefined) return null;
  try {
    return parse(joinLines(value));
  } catch {
    return null;
  }
}

/** Whether a list-valued header contains `lowerCase`, compared ASCII case-insensitively. */
function listIncludes(
  value: string | string[] | undefined,
  lowerCase: string,
  parse: (text: string) => string[],
): boolean {
  const items = parseOrNull(value, parse);
  return items?.some((item) => item.toLowerCase() === lowerCase) ?? false;
}

/** Whether `code` is in the base64 alphabet of RFC 4648 §4 (no padding, no URL-safe variant). */
function isBase64Char(code: number): boolean {
  return (
    (code >= 0x41 && code <= 0x5a) || // A-Z
    (code >= 0x61 && code <= 0x7a) || // a-z
    (code >= 0x30 && code <= 0x39) || // 0-9
    code === 0x2b || // +
    code === 0x2f // /
  );
}

/**
 * Whether `key` is base64 for exactly 16 bytes: 22 alphabet characters then `==`. Checked
 * character by character because `Buffer.from(key, 'base64')` skips junk and accepts missing
 * padding. The 4 unused bits of the last character are not required to be zero, as in ws and
 * python-websockets, since every such key still decodes to 16 bytes.
 */
function isValidKey(key: string): boolean {
  if (key.length !== 24 || key.charCodeAt(22) !== 0x3d || key.charCodeAt(23) !== 0x3d) {
    return false;
  }
  for (let i = 0; i < 22; i++) if (!isBase64Char(key.charCodeAt(i))) return false;
  return true;
}

/** Whether `value` is non-empty printable ASCII without spaces, as a host or origin-form target. */
function isRequestTarget(value: string): boolean {
  if (value.length === 0) return false;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code <= 0x20 || code >= 0x7f) return false;
  }
  return true;
}

/**
 * One `name: value\r\n` line. RFC 7230 §3.2: `field-name` is a token and `field-value` is HTAB,
 * SP, VCHAR and obs-text — the same set Node's `http` enforces. Refusing everything else (CR, LF
 * and NUL above all) is what stops a value from ending the header and starting another.
 */
function field(name: string, value: string): string {
  if (!isToken(name)) {
    throw new InvalidArgumentError(`Invalid header name ${JSON.stringify(name)}`);
  }
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code !== 0x09 && (code < 0x20 || code === 0x7f || code > 0xff)) {
      throw new InvalidArgumentError(`Invalid character in the value of header ${name}`);
    }
  }
  return `${name}: ${value}\r\n`;
}

/** The lines of extra header fields, refusing any whose lower-case name is in `owned`. */
function fields(headers: HeaderFields | undefined, owned: ReadonlySet<string>): string {
  if (headers === undefined) return '';
  let lines = '';
  for (const [name, value] of Object.entries(headers)) {
    if (owned.has(name.toLowerCase())) {
      throw new InvalidArgumentError(`Header ${name} is written by the handshake itself`);
    }
    if (typeof value === 'string') lines += field(name, value);
    else for (const item of value) lines += field(name, item);
  }
  return lines;
}

// The parsed Sec-WebSocket-Extensions header; a malformed one is a HandshakeError with `status`
// (400 on the server; on the client, the status the server answered).
function extensionsOf(headers: HeaderMap, status: number): ExtensionOffer[] {
  try {
    return parseExtensions(header(headers, 'sec-websocket-extensions'));
  } catch (error) {
    throw new HandshakeError(
      'ERR_HANDSHAKE_EXTENSION',
      'Invalid Sec-WebSocket-Extensions header',
      status,
      {},
      { cause: error },
    );
  }
}

// RFC 9110 §15's reason phrases, for the status lines a handshake writes and the errors it
// reports (kept here rather than read from node:http: the codec does no HTTP of its own).
const REASON_PHRASES: Readonly<Record<number, string>> = {
  100: 'Continue',
  101: 'Switching Protocols',
  200: 'OK',
  201: 'Created',
  202: 'Accepted',
  204: 'No Content',
  301: 'Moved Permanently',
  302: 'Found',
  303: 'See Other',
  304: 'Not Modified',
  307: 'Temporary Redirect',
  308: 'Permanent Redirect',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  408: 'Request Timeout',
  409: 'Conflict',
  410: 'Gone',
  411: 'Length Required',
  413: 'Payload Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  421: 'Misdirected Request',
  426: 'Upgrade Required',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

function reasonPhrase(status: number): string {
  return REASON_PHRASES[status] ?? 'Unknown';
}
