/**
 * One parsed element of a `Sec-WebSocket-Extensions` header (RFC 6455 §9.1): a token and its
 * parameters in order. A parameter without a value is `true`; duplicates are kept so that a
 * negotiator can refuse them (RFC 7692 §7.1).
 */
export interface ExtensionOffer {
  readonly name: string;
  readonly params: ReadonlyArray<readonly [name: string, value: string | true]>;
}

/**
 * A negotiated per-message extension that uses RSV1 (RFC 7692 §6). The protocol calls it for every
 * message whose first frame has RSV1 set, and for every message it sends.
 *
 * Implementations are synchronous so that the protocol stays sans-I/O; they throw `ProtocolError`
 * (or `PayloadTooBigError`) for bad peer data, which the protocol turns into a close code.
 */
export interface PerMessageExtension {
  /** The extension token, e.g. `permessage-deflate`. */
  readonly name: string;
  /**
   * Decode the complete payload of a received message (all fragments concatenated). Must throw
   * `PayloadTooBigError` as soon as the decoded size would exceed `maxSize`, without allocating it.
   */
  decode(data: Uint8Array, maxSize: number): Uint8Array;
  /** Whether an outgoing message whose first fragment has `size` bytes should be encoded. */
  shouldEncode(size: number): boolean;
  /** Encode one fragment of an outgoing message; `fin` is true for the last fragment. */
  encode(data: Uint8Array, fin: boolean): Uint8Array;
}
