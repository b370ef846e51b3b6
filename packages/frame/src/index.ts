export { type CloseReason, type CloseStatus, parseClose, serializeClose } from './close.js';
export { CloseCode, type CloseCodeName, isValidCloseCode } from './close-code.js';
export {
  type ErrorCode,
  HandshakeError,
  type HandshakeErrorCode,
  InvalidArgumentError,
  InvalidStateError,
  PayloadTooBigError,
  ProtocolError,
  type ProtocolErrorCode,
  WebSocketClosedError,
  WebSocketError,
} from './errors.js';
export type { ExtensionOffer, PerMessageExtension } from './extension.js';
export { encodeFrame, encodeTextFrame, type FrameOptions, headerLength } from './frame.js';
export {
  acceptKey,
  buildRejection,
  buildResponse,
  type ClientHandshake,
  type ClientRequest,
  createRequest,
  generateKey,
  type HeaderFields,
  type HeaderMap,
  type RequestOptions,
  type ResponseOptions,
  type ServerHandshake,
  validateRequest,
  validateResponse,
} from './handshake.js';
export { isToken, parseExtensions, parseTokenList, serializeExtensions } from './headers.js';
export { applyMask, type MaskFunction, type MaskGenerator, randomMask } from './mask.js';
export { isControlOpcode, Opcode } from './opcode.js';
export {
  acceptDeflateResponse,
  type DeflateNegotiation,
  type DeflateOptions,
  type DeflateParameters,
  negotiateDeflate,
  offerDeflate,
  PerMessageDeflate,
} from './permessage-deflate.js';
export {
  type BinaryEvent,
  type CloseEvent,
  DEFAULT_MAX_MESSAGE_SIZE,
  type PingEvent,
  type PongEvent,
  Protocol,
  type ProtocolEvent,
  type ProtocolOptions,
  type ReceiveOptions,
  type Side,
  State,
  type TextEvent,
} from './protocol.js';
export {
  findHeadEnd,
  parseHeaderFields,
  parseRequestHead,
  parseRequestLine,
  type RequestHead,
  type RequestHeaders,
  type RequestLine,
} from './request-head.js';
export { isValidUtf8, Utf8Validator } from './utf8.js';
